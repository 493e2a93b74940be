//! One file per rule; each declares its `RULE` for the registry.

pub mod data_on_ephemeral;
pub mod data_path_setting;
pub mod default_disks;
pub mod default_setting_configmap;
pub mod namespace_labels;
pub mod namespace_privileged;
pub mod node_disk_paths;
pub mod node_volume_reported;
pub mod pod_host_paths;
pub mod pod_tmpfs;
pub mod v2_hugepages;

use super::objects::Namespace;
use super::{Pair, Request};

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
