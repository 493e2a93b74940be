//! What a request writes, read the way Longhorn reads it, once per review
//! ([`Writes::read`]), for the rules that judge it: the disks of a Longhorn
//! node, a path Setting, the default-disks annotation of a Kubernetes node
//! and the path settings of the `longhorn-default-setting` ConfigMap (one
//! [`DiskSet`], each disk classified once), the rest of that ConfigMap, and
//! the host path volumes a pod adds (each classified once). Rules read this
//! shape; no rule reads these objects by hand and no rule file imports
//! another.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::base::gojson::{self, DefaultDisk, GoJsonError};
use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL, DEFAULT_DISKS_ANNOTATION, DEFAULT_SETTING_CONFIGMAP,
    DEFAULT_SETTING_KEY, PATH_SETTINGS,
};
use crate::base::{AllowedMount, HostPath, PathError};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::disks::{DiskClass, DiskType, classify, containing_mount};
use crate::policy::objects::{ConfigMap, KubeNode, LonghornDisk, LonghornNode, PodSpec, Volume};
use crate::policy::violation::{DiskSource, Problem, Violation};
use crate::policy::{Kind, Operation, Pair, Request, Subject};

/// What one request writes, read once per review; every field is `None`
/// for a request that writes no such thing.
#[derive(Debug, Default)]
pub struct Writes<'r> {
    /// The data paths the request writes (a Longhorn node's disks, a path
    /// Setting, the default-disks annotation, the ConfigMap's path
    /// settings), each classified once.
    pub disks: Option<DiskSet>,
    /// The default-disks annotation of a Kubernetes node, as Longhorn reads it.
    pub default_disks: Option<Annotated<'r>>,
    /// The `longhorn-default-setting` ConfigMap.
    pub settings: Option<SettingsWrite<'r>>,
    /// The host path volumes a pod (or pod template) in the Longhorn
    /// namespace adds.
    pub pod: Option<PodWrite<'r>>,
}

impl<'r> Writes<'r> {
    /// Reads what `req` writes, as judged under `cfg` (the paths the
    /// operator vouches for, the machine config).
    pub fn read(req: &'r Request<'r>, cfg: &'r Config) -> Writes<'r> {
        let mut writes = Writes::default();
        match &req.subject {
            Subject::LonghornNode(pair) => writes.disks = longhorn_node(req, pair, cfg),
            Subject::LonghornSetting(_) => writes.disks = path_setting(req, cfg),
            Subject::KubeNode(_) => {
                writes.default_disks = annotated(req);
                writes.disks = writes.default_disks.as_ref().and_then(|a| a.disk_set(cfg));
            }
            Subject::ConfigMap(_) => {
                writes.settings = settings_write(req, cfg);
                writes.disks = writes.settings.as_ref().and_then(|s| s.disk_set(cfg));
            }
            _ => writes.pod = pod_write(req, cfg),
        }
        writes
    }
}

/// The data paths one object writes, each read and classified once.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskSet {
    /// Where they are written.
    pub source: DiskSource,
    /// The node's name (the setting's name for a Setting, `namespace/name`
    /// for the ConfigMap).
    pub node: String,
    /// The disks, in the object's order.
    pub disks: Vec<WrittenDisk>,
}

/// One data path a request writes.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenDisk {
    /// The disk's name (`[i]` for an unnamed default disk, the setting's name).
    pub name: String,
    /// Its path as written.
    pub path: String,
    /// The field it is in.
    pub field: String,
    /// True for a V2 block disk.
    pub block: bool,
    /// True when this request adds or changes it (ratcheting: only those deny).
    pub judged: bool,
    /// What the path is for Longhorn.
    pub class: DiskClass,
}

impl WrittenDisk {
    fn new(
        (name, path, field): (String, &str, String),
        disk_type: DiskType<'_>,
        judged: bool,
        mounts: &[AllowedMount],
        cfg: &Config,
    ) -> WrittenDisk {
        WrittenDisk {
            class: classify(disk_type, path, mounts, cfg.host.as_ref()),
            block: disk_type == DiskType::Block,
            name,
            path: path.to_string(),
            field,
            judged,
        }
    }
}

impl DiskSet {
    /// Disks that fail or lose data: a bad disk this request adds or
    /// changes is a violation, one that was already there a warning. A disk
    /// of a type the guard does not know is a warning naming the type.
    /// Returns `(violations, warnings)`.
    pub fn unusable(&self) -> (Vec<Violation>, Vec<Violation>) {
        let (mut violations, mut warnings) = (Vec::new(), Vec::new());
        for d in &self.disks {
            let problem = match &d.class {
                DiskClass::Unusable(problem) => Problem::DiskPath {
                    source: self.source,
                    node: self.node.clone(),
                    disk: d.name.clone(),
                    path: d.path.clone(),
                    problem: problem.clone(),
                },
                DiskClass::UnknownType(t) if d.judged => {
                    warnings.push(Violation {
                        preexisting: false,
                        field: d.field.clone(),
                        value: t.clone(),
                        problem: Problem::DiskTypeUnknown {
                            source: self.source,
                            node: self.node.clone(),
                            disk: d.name.clone(),
                            disk_type: t.clone(),
                        },
                    });
                    continue;
                }
                _ => continue,
            };
            let list = if d.judged {
                &mut violations
            } else {
                &mut warnings
            };
            list.push(Violation {
                preexisting: !d.judged,
                field: d.field.clone(),
                value: d.path.clone(),
                problem,
            });
        }
        (violations, warnings)
    }

    /// New or changed filesystem disks that keep their data on EPHEMERAL.
    pub fn ephemeral(&self) -> Vec<Violation> {
        self.disks
            .iter()
            .filter(|d| d.judged)
            .filter_map(|d| match &d.class {
                DiskClass::Ephemeral(why) => Some(Violation {
                    preexisting: false,
                    field: d.field.clone(),
                    value: d.path.clone(),
                    problem: Problem::DiskEphemeral {
                        source: self.source,
                        node: self.node.clone(),
                        disk: d.name.clone(),
                        path: d.path.clone(),
                        why: why.clone(),
                    },
                }),
                _ => None,
            })
            .collect()
    }
}

/// The disks of a Longhorn node request.
fn longhorn_node(
    req: &Request<'_>,
    pair: &Pair<LonghornNode<'_>>,
    cfg: &Config,
) -> Option<DiskSet> {
    let node = pair.object.as_ref()?;
    let name = req.name_of(node.metadata.name.as_deref());
    let mounts = cfg.mounts_for_node(name);
    let disks = node_disks(req, pair)
        .into_iter()
        .map(|(disk, d, judged)| {
            let field = format!("spec.disks.{disk}.path");
            WrittenDisk::new(
                (disk.to_string(), &d.path, field),
                d.kind(),
                judged,
                mounts,
                cfg,
            )
        })
        .collect();
    Some(DiskSet {
        source: DiskSource::LonghornNode,
        node: name.to_string(),
        disks,
    })
}

/// The value of a path Setting (`default-data-path`), judged when this
/// request sets or changes it.
fn path_setting(req: &Request<'_>, cfg: &Config) -> Option<DiskSet> {
    let Subject::LonghornSetting(pair) = &req.subject else {
        return None;
    };
    let setting = pair.object.as_ref()?;
    let name = req.name_of(setting.metadata.name.as_deref());
    if !PATH_SETTINGS.contains(&name) {
        return None;
    }
    let value = setting.value.as_deref()?;
    let unchanged = req.operation == Operation::Update
        && pair.old.as_ref().and_then(|o| o.value.as_deref()) == Some(value);
    let disk = WrittenDisk::new(
        (name.to_string(), value, "value".into()),
        DiskType::Filesystem,
        !unchanged,
        &cfg.allowed_mounts,
        cfg,
    );
    Some(DiskSet {
        source: DiskSource::Setting,
        node: name.to_string(),
        disks: vec![disk],
    })
}

/// The default disks a request writes, read as Longhorn reads them.
#[derive(Debug)]
pub struct Annotated<'r> {
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
    /// The disks, when the annotation reads (`[i]` names an unnamed one).
    fn disk_set(&self, cfg: &Config) -> Option<DiskSet> {
        let disks = self.disks.as_ref().ok()?;
        let mounts = cfg.mounts_for_node(self.node);
        let disks = disks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = if d.name.is_empty() {
                    format!("[{i}]")
                } else {
                    d.name.clone()
                };
                let disk_type = DiskType::of(Some(&d.disk_type));
                let at = (name, d.path.as_str(), self.field.clone());
                WrittenDisk::new(at, disk_type, self.judged, mounts, cfg)
            })
            .collect();
        Some(DiskSet {
            source: DiskSource::DefaultDisks,
            node: self.node.to_string(),
            disks,
        })
    }
}

/// The default disks of a Kubernetes node request, if Longhorn will read any.
fn annotated<'r>(req: &'r Request<'_>) -> Option<Annotated<'r>> {
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
fn settings(cm: &ConfigMap) -> Option<Result<BTreeMap<String, String>, String>> {
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

/// The `longhorn-default-setting` ConfigMap a request writes.
#[derive(Debug)]
pub struct SettingsWrite<'r> {
    /// Its `namespace/name`.
    pub configmap: String,
    /// The keys under `data` other than `default-setting.yaml` (Longhorn
    /// ignores them).
    pub ignored_keys: Vec<&'r str>,
    /// Its settings as Longhorn uses them; `None` without
    /// `default-setting.yaml`, `Err` with the parser's message.
    pub values: Option<Result<BTreeMap<String, String>, String>>,
    /// True when an UPDATE leaves the text of `default-setting.yaml` as it was.
    pub text_unchanged: bool,
    /// The settings before an UPDATE, when they read.
    before: Option<BTreeMap<String, String>>,
}

impl SettingsWrite<'_> {
    /// The path settings, when the settings read: each judged when this
    /// request sets or changes its value.
    fn disk_set(&self, cfg: &Config) -> Option<DiskSet> {
        let Some(Ok(values)) = &self.values else {
            return None;
        };
        let disks = PATH_SETTINGS
            .iter()
            .filter_map(|s| {
                let value = values.get(*s)?;
                let judged = self.before.as_ref().and_then(|b| b.get(*s)) != Some(value);
                let field = format!("data[\"{DEFAULT_SETTING_KEY}\"] {s}");
                let at = (s.to_string(), value.as_str(), field);
                let mounts = &cfg.allowed_mounts;
                Some(WrittenDisk::new(
                    at,
                    DiskType::Filesystem,
                    judged,
                    mounts,
                    cfg,
                ))
            })
            .collect();
        Some(DiskSet {
            source: DiskSource::SettingsConfigMap,
            node: self.configmap.clone(),
            disks,
        })
    }
}

/// The `longhorn-default-setting` ConfigMap of the Longhorn namespace, if
/// that is what the request writes.
fn settings_write<'r>(req: &'r Request<'r>, cfg: &Config) -> Option<SettingsWrite<'r>> {
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
    Some(SettingsWrite {
        configmap: format!("{ns}/{name}"),
        ignored_keys: cm
            .data
            .keys()
            .map(|k| &**k)
            .filter(|k| *k != DEFAULT_SETTING_KEY)
            .collect(),
        values: settings(cm),
        text_unchanged: old
            .is_some_and(|o| o.data.get(DEFAULT_SETTING_KEY) == cm.data.get(DEFAULT_SETTING_KEY)),
        before: old.and_then(settings).and_then(Result::ok),
    })
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
fn pod_mounts<'c>(spec: &PodSpec, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
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

/// The host path volumes a pod (or pod template) of the Longhorn
/// namespace adds, each classified once.
#[derive(Debug)]
pub struct PodWrite<'r> {
    /// The spec judged.
    pub spec: &'r PodSpec<'r>,
    /// The namespace.
    pub namespace: &'r str,
    /// The object's name (`(generated name)` when it has none yet).
    pub name: &'r str,
    /// The controller kind, for a pod template.
    pub owner: Option<&'static str>,
    /// The host path volumes the request adds (on UPDATE, those the old
    /// spec did not have), in the spec's order.
    pub volumes: Vec<PodVolume<'r>>,
}

/// One host path volume a pod adds.
#[derive(Debug)]
pub struct PodVolume<'r> {
    /// Its index in `volumes`.
    pub index: usize,
    /// The volume.
    pub volume: &'r Volume<'r>,
    /// Its `hostPath.path` as written.
    pub raw: &'r str,
    /// Its `hostPath.type` as written (empty when absent).
    pub path_type: &'r str,
    /// The path, parsed.
    pub path: Result<HostPath, PathError>,
    /// Where the path is on a Talos node; `None` when it does not parse or
    /// the operator vouches for it (`allowedMounts`).
    pub place: Option<Place>,
}

/// The host path volumes of a pod request in the Longhorn namespace.
fn pod_write<'r>(req: &'r Request<'r>, cfg: &Config) -> Option<PodWrite<'r>> {
    let pod = pod_under_review(req, cfg)?;
    let mounts = pod_mounts(pod.spec, cfg);
    let volumes = pod
        .spec
        .volumes
        .iter()
        .enumerate()
        .filter(|(_, v)| !pod.had(v))
        .filter_map(|(index, volume)| {
            let host = volume.host_path.as_ref()?;
            let path = HostPath::parse(&host.path);
            let place = match &path {
                Ok(p) if containing_mount(p, &mounts).is_none() => {
                    Some(host::classify(p, cfg.host.as_ref()))
                }
                _ => None,
            };
            Some(PodVolume {
                index,
                volume,
                raw: &host.path,
                path_type: host.path_type.as_deref().unwrap_or_default(),
                path,
                place,
            })
        })
        .collect();
    Some(PodWrite {
        spec: pod.spec,
        namespace: pod.namespace,
        name: pod.name,
        owner: pod.owner,
        volumes,
    })
}

/// A pod spec under review: a Pod's, or the pod template of a controller
/// (as Kyverno's autogen does for pod policies, so that `kubectl apply` and
/// `helm install` print the denial rather than a controller event).
struct PodUnderReview<'r, 'a> {
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
fn pod_under_review<'r, 'a>(req: &'r Request<'a>, cfg: &Config) -> Option<PodUnderReview<'r, 'a>> {
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
