//! One file per rule; each declares its `RULE` for the registry.

pub mod data_on_ephemeral;
pub mod data_path_setting;
pub mod default_disks;
pub mod default_setting_configmap;
pub mod namespace_labels;
pub mod namespace_privileged;
pub mod node_disk_paths;
pub mod pod_host_paths;
pub mod pod_tmpfs;
pub mod v2_hugepages;

use super::objects::{LonghornDisk, LonghornNode, Namespace};
use super::{Operation, Pair, Request};

/// The Longhorn namespace of a Namespace request, if that is what it is.
pub(crate) fn longhorn_namespace<'p, 'a>(
    req: &Request<'_>,
    pair: &'p Pair<Namespace<'a>>,
    longhorn: &str,
) -> Option<&'p Namespace<'a>> {
    let ns = pair.object.as_ref()?;
    let name = req.name_of(ns.metadata.name.as_deref());
    (name == longhorn).then_some(ns)
}

/// The name of a Longhorn node (its metadata, else the request's).
pub(crate) fn node_name<'a>(req: &'a Request, node: &'a LonghornNode) -> &'a str {
    req.name_of(node.metadata.name.as_deref())
}

/// The disks of the new object, each with whether this request adds or
/// changes it (ratcheting: only those are judged).
pub(crate) fn node_disks<'p, 'a>(
    req: &Request<'_>,
    pair: &'p Pair<LonghornNode<'a>>,
) -> Vec<(&'p str, &'p LonghornDisk<'a>, bool)> {
    let Some(node) = &pair.object else {
        return Vec::new();
    };
    let old = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => Some(&old.spec.disks),
        _ => None,
    };
    node.spec
        .disks
        .iter()
        .map(|(name, disk)| {
            let judged = match old.and_then(|o| o.get(name)) {
                Some(before) => before.path != disk.path || before.kind() != disk.kind(),
                None => true,
            };
            (&**name, disk, judged)
        })
        .collect()
}
