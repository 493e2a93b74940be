//! What a request writes, read the way Longhorn reads it, for the rules that
//! judge it: the disks of a Longhorn node (with which ones this request adds
//! or changes), the default-disks annotation of a Kubernetes node, the
//! settings of the `longhorn-default-setting` ConfigMap, and a pod's host
//! path volumes. Moved here from the rule files (default_disks.rs,
//! default_setting_configmap.rs, pod_host_paths.rs, rules/mod.rs) so that
//! every rule reading the same object reads it through one place and no rule
//! file imports another.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::base::AllowedMount;
use crate::base::gojson::{self, DefaultDisk, GoJsonError};
use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL, DEFAULT_DISKS_ANNOTATION, DEFAULT_SETTING_CONFIGMAP,
    DEFAULT_SETTING_KEY,
};
use crate::config::Config;
use crate::policy::disks::DiskType;
use crate::policy::objects::{ConfigMap, KubeNode, LonghornDisk, LonghornNode, PodSpec, Volume};
use crate::policy::{Kind, Operation, Pair, Request, Subject};

/// The default disks a request writes, read as Longhorn reads them.
pub(crate) struct Annotated<'r> {
    /// The node's name.
    pub node: &'r str,
    /// The annotation's text.
    pub raw: &'r str,
    /// True when this request sets or changes what Longhorn reads.
    pub judged: bool,
    /// The disks as Go's encoding/json decodes them, or why they do not.
    pub disks: Result<Vec<DefaultDisk>, GoJsonError>,
    /// The field the annotation is in.
    pub field: String,
}

impl Annotated<'_> {
    /// The disks with their display names (`[i]` for an unnamed one).
    pub fn to_judge<'d>(&self, disks: &'d [DefaultDisk]) -> Vec<(String, &'d str, DiskType<'d>)> {
        disks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = if d.name.is_empty() {
                    format!("[{i}]")
                } else {
                    d.name.clone()
                };
                (name, d.path.as_str(), DiskType::of(Some(&d.disk_type)))
            })
            .collect()
    }
}

/// The default disks of a Kubernetes node request, if Longhorn will read any.
pub(crate) fn annotated<'r>(req: &'r Request<'_>) -> Option<Annotated<'r>> {
    let Subject::KubeNode(pair) = &req.subject else {
        return None;
    };
    let node = pair.object.as_ref()?;
    let raw = annotation(node)?;
    let judged = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => annotation(old) != Some(raw),
        _ => true,
    };
    Some(Annotated {
        node: req.name_of(node.metadata.name.as_deref()),
        raw,
        judged,
        disks: gojson::default_disks(raw),
        field: format!("metadata.annotations[\"{DEFAULT_DISKS_ANNOTATION}\"]"),
    })
}

/// The annotation Longhorn will read from `node`: only with the label at
/// `config` in any case Go's `strings.ToLower` folds (`Config`, `CONFIG`).
fn annotation<'n>(node: &'n KubeNode<'_>) -> Option<&'n str> {
    if node
        .label(CREATE_DEFAULT_DISK_LABEL)
        .is_some_and(gojson::label_reads_annotation)
    {
        node.annotation(DEFAULT_DISKS_ANNOTATION)
    } else {
        None
    }
}

/// The settings of `default-setting.yaml`, as Longhorn uses them: read by
/// [`read_default_settings`], each value trimmed of spaces and an empty one
/// dropped (`GetCustomizedDefaultSettings`, `types/setting.go`, v1.10 to
/// v1.12). `Err` holds the parser's message with its position.
pub(crate) fn settings(cm: &ConfigMap) -> Option<Result<BTreeMap<String, String>, String>> {
    let text = cm.data.get(DEFAULT_SETTING_KEY)?;
    Some(read_default_settings(text).map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| {
                let v = v.trim_matches(' ');
                (!v.is_empty()).then(|| (k, v.to_string()))
            })
            .collect()
    }))
}

/// Reads `default-setting.yaml` the way longhorn-manager does
/// (`util.GetDataContentFromYAML`: gopkg.in/yaml.v2 `Unmarshal` into
/// `map[string]string`, v1.10 to v1.12): every scalar is kept as written
/// (`True`, `0x10`, `1.50` stay text), `~` is an empty value, entries apply
/// in document order so the last of duplicate keys wins, a merge key (`<<`)
/// applies its map where it stands (overriding keys before it; of a list
/// of maps the first wins), only the first document is read, and a list or
/// map where a value should be is an error (Longhorn then uses none of the
/// settings; at start it does not start). `Err` holds the parser's message
/// with its position.
pub fn read_default_settings(text: &str) -> Result<BTreeMap<String, String>, String> {
    type Doc = Option<V2Map>;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
    };
    let position = |e: &serde_saphyr::Error| crate::base::yaml::YamlError::from(e).positioned();
    let doc: Doc = match serde_saphyr::from_str_with_options::<Doc>(text, options.clone()) {
        Ok(doc) => doc,
        Err(e) => {
            // A syntax error anywhere is named before a type error, as
            // yaml.v2 parses before it decodes.
            let parsed: Result<Vec<serde::de::IgnoredAny>, _> =
                serde_saphyr::from_str_multiple_with_options::<serde::de::IgnoredAny, _>(
                    text,
                    options.clone(),
                );
            if let Err(syntax) = parsed {
                return Err(position(&syntax));
            }
            // yaml.v2 reads the first document only.
            let docs: Vec<Doc> = serde_saphyr::from_str_multiple_with_options(text, options)
                .map_err(|_| position(&e))?;
            if docs.len() < 2 {
                return Err(position(&e));
            }
            docs.into_iter().next().flatten()
        }
    };
    Ok(doc.map(|m| m.0.into_iter().collect()).unwrap_or_default())
}

/// A YAML mapping read as yaml.v2 reads it into `map[string]string`: its
/// entries in the order they apply (merges expanded where they stand).
struct V2Map(Vec<(String, String)>);

struct V2MapVisitor;

impl<'de> serde::de::Visitor<'de> for V2MapVisitor {
    type Value = V2Map;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of setting names to values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<V2Map, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "<<" {
                entries.extend(map.next_value::<V2Merge>()?.0);
            } else {
                let value: Option<String> = map.next_value()?;
                entries.push((key, value.unwrap_or_default()));
            }
        }
        Ok(V2Map(entries))
    }
}

impl<'de> serde::Deserialize<'de> for V2Map {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(V2MapVisitor)
    }
}

/// The value of a merge key: a map, or a list of maps applied last to
/// first (yaml.v2 `decode.go` `merge`); anything else is an error.
struct V2Merge(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for V2Merge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = V2Merge;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map or a list of maps to merge")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<V2Merge, A::Error> {
                V2MapVisitor.visit_map(map).map(|m| V2Merge(m.0))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<V2Merge, A::Error> {
                let mut maps = Vec::new();
                while let Some(m) = seq.next_element::<V2Map>()? {
                    maps.push(m.0);
                }
                Ok(V2Merge(maps.into_iter().rev().flatten().collect()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `longhorn-default-setting` ConfigMap of the Longhorn namespace, if
/// that is what the request writes, with its `namespace/name`.
pub(crate) fn default_setting_configmap<'r, 'a>(
    req: &'r Request<'a>,
    cfg: &Config,
) -> Option<(&'r ConfigMap<'a>, Option<&'r ConfigMap<'a>>, String)> {
    let Subject::ConfigMap(pair) = &req.subject else {
        return None;
    };
    let cm = pair.object.as_ref()?;
    let name = req.name_of(cm.metadata.name.as_deref());
    let ns = req.namespace_of(cm.metadata.namespace.as_deref());
    if name != DEFAULT_SETTING_CONFIGMAP || ns != cfg.longhorn_namespace {
        return None;
    }
    let old = match req.operation {
        Operation::Update => pair.old.as_ref(),
        _ => None,
    };
    Some((cm, old, format!("{ns}/{name}")))
}

/// The kinds whose pod spec the pod rules read.
pub(crate) const POD_KINDS: &[Kind] = &[
    Kind::Pod,
    Kind::DaemonSet,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::ReplicaSet,
    Kind::Job,
    Kind::CronJob,
];

/// The paths the operator vouches for, for a pod: its node's when it is
/// bound to one that has its own list, else the global list and every node's
/// list (a DaemonSet pod may land on any node).
pub(crate) fn pod_mounts<'c>(spec: &PodSpec, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
    if let Some(node) = spec.node_name.as_deref()
        && cfg.node_allowed_mounts.contains_key(node)
    {
        return Cow::Borrowed(cfg.mounts_for_node(node));
    }
    if cfg.node_allowed_mounts.is_empty() {
        return Cow::Borrowed(&cfg.allowed_mounts);
    }
    let mut all = cfg.allowed_mounts.clone();
    for list in cfg.node_allowed_mounts.values() {
        for m in list {
            if !all.contains(m) {
                all.push(m.clone());
            }
        }
    }
    Cow::Owned(all)
}

/// A pod spec under review: a Pod's, or the pod template of a controller
/// (as Kyverno's autogen does for pod policies, so that `kubectl apply` and
/// `helm install` print the denial rather than a controller event).
pub(crate) struct PodUnderReview<'r, 'a> {
    /// The spec judged.
    pub spec: &'r PodSpec<'a>,
    /// The spec before an UPDATE: volumes it already had are not judged again.
    pub old: Option<&'r PodSpec<'a>>,
    /// The namespace.
    pub namespace: &'r str,
    /// The object's name.
    pub name: &'r str,
    /// The controller kind, for a pod template.
    pub owner: Option<&'static str>,
}

impl PodUnderReview<'_, '_> {
    /// True when the old spec had this very host path volume.
    pub fn had(&self, volume: &Volume) -> bool {
        self.old
            .is_some_and(|old| old.volumes.iter().any(|v| v == volume))
    }
}

/// The pod spec of a request in the Longhorn namespace, if it has one.
pub(crate) fn pod_under_review<'r, 'a>(
    req: &'r Request<'a>,
    cfg: &Config,
) -> Option<PodUnderReview<'r, 'a>> {
    let (meta, spec, old, owner) = match &req.subject {
        Subject::Pod(pair) => {
            let pod = pair.object.as_ref()?;
            (
                &pod.metadata,
                &pod.spec,
                pair.old.as_ref().map(|p| &p.spec),
                None,
            )
        }
        subject => {
            let (owner, pair) = subject.pod_controller()?;
            let c = pair.object.as_ref()?;
            let old = pair.old.as_ref().and_then(|o| o.pod_spec());
            (&c.metadata, c.pod_spec()?, old, Some(owner))
        }
    };
    let namespace = req.namespace_of(meta.namespace.as_deref());
    if namespace != cfg.longhorn_namespace {
        return None;
    }
    let name = req.name_of(meta.name.as_deref());
    let name = if name.is_empty() {
        "(generated name)"
    } else {
        name
    };
    Some(PodUnderReview {
        spec,
        old: if req.operation == Operation::Update {
            old
        } else {
            None
        },
        namespace,
        name,
        owner,
    })
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
