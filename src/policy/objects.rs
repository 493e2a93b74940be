//! Typed views of the objects the policies read: only the fields they need, so
//! that decoding skips everything else (a Pod's status, managed fields, ...).
//! Strings borrow from the request body when they hold no escapes.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::Deserialize;

/// A string borrowed from the request body, or owned when it had escapes
/// (serde's own `Cow` impl always copies; this one borrows when it can).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str<'a>(pub Cow<'a, str>);

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Str<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> From<&'a str> for Str<'a> {
    fn from(s: &'a str) -> Self {
        Str(Cow::Borrowed(s))
    }
}

impl From<String> for Str<'_> {
    fn from(s: String) -> Self {
        Str(Cow::Owned(s))
    }
}

impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The metadata fields the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct Meta<'a> {
    /// `metadata.name`.
    #[serde(default, borrow)]
    pub name: Option<Str<'a>>,
    /// `metadata.namespace`.
    #[serde(default, borrow)]
    pub namespace: Option<Str<'a>>,
}

/// A Namespace's metadata: its labels matter too.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct NamespaceMeta<'a> {
    /// `metadata.name`.
    #[serde(default, borrow)]
    pub name: Option<Str<'a>>,
    /// `metadata.labels`; `None` when the object has no labels map at all.
    #[serde(default, borrow)]
    pub labels: Option<BTreeMap<Str<'a>, Str<'a>>>,
}

/// A core/v1 Namespace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct Namespace<'a> {
    /// Its metadata.
    #[serde(default, borrow)]
    pub metadata: NamespaceMeta<'a>,
}

/// A core/v1 Node, reduced to what Longhorn reads for default disks.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct KubeNode<'a> {
    /// Its metadata.
    #[serde(default, borrow)]
    pub metadata: KubeNodeMeta<'a>,
}

/// A Node's name, labels and annotations.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct KubeNodeMeta<'a> {
    /// `metadata.name`.
    #[serde(default, borrow)]
    pub name: Option<Str<'a>>,
    /// `metadata.labels`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<Str<'a>, Str<'a>>,
    /// `metadata.annotations`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<Str<'a>, Str<'a>>,
}

impl KubeNode<'_> {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.get(key).map(|v| &**v)
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.get(key).map(|v| &**v)
    }
}

/// A `nodes.longhorn.io` object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct LonghornNode<'a> {
    /// Its metadata; the name is the Kubernetes node's name.
    #[serde(default, borrow)]
    pub metadata: Meta<'a>,
    /// `spec`.
    #[serde(default, borrow)]
    pub spec: LonghornNodeSpec<'a>,
}

/// The part of a Longhorn node's spec the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct LonghornNodeSpec<'a> {
    /// `spec.disks`, by disk name.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub disks: BTreeMap<Str<'a>, LonghornDisk<'a>>,
}

/// One entry of `spec.disks`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct LonghornDisk<'a> {
    /// `path`: a directory (filesystem disk) or a device / PCI address (block disk).
    #[serde(default, borrow)]
    pub path: Str<'a>,
    /// `diskType`: `filesystem` (the default when empty) or `block`.
    #[serde(default, borrow)]
    pub disk_type: Option<Str<'a>>,
}

impl LonghornDisk<'_> {
    /// True for a V2 block disk.
    pub fn is_block(&self) -> bool {
        self.disk_type.as_deref() == Some("block")
    }

    /// Its `diskType`, as the disk rules judge it.
    pub fn kind(&self) -> crate::policy::disks::DiskType<'_> {
        crate::policy::disks::DiskType::of(self.disk_type.as_deref())
    }
}

/// A `settings.longhorn.io` object: the value is top-level, not under spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct Setting<'a> {
    /// Its metadata; the name is the setting's name (`default-data-path`).
    #[serde(default, borrow)]
    pub metadata: Meta<'a>,
    /// `value`.
    #[serde(default, borrow)]
    pub value: Option<Str<'a>>,
}

/// A core/v1 ConfigMap: Longhorn's `longhorn-default-setting` is the one read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct ConfigMap<'a> {
    /// Its metadata.
    #[serde(default, borrow)]
    pub metadata: Meta<'a>,
    /// `data`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub data: BTreeMap<Str<'a>, Str<'a>>,
}

/// A pod controller (DaemonSet, Deployment, StatefulSet, ReplicaSet, Job,
/// CronJob), reduced to its pod template.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct PodController<'a> {
    /// Its metadata.
    #[serde(default, borrow)]
    pub metadata: Meta<'a>,
    /// `spec`.
    #[serde(default, borrow)]
    pub spec: ControllerSpec<'a>,
}

/// The part of a controller's spec that holds the pod template.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct ControllerSpec<'a> {
    /// `spec.template` (every controller but CronJob).
    #[serde(default, borrow)]
    pub template: Option<PodTemplate<'a>>,
    /// `spec.jobTemplate` (CronJob).
    #[serde(default, borrow)]
    pub job_template: Option<JobTemplate<'a>>,
}

/// `spec.jobTemplate` of a CronJob.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct JobTemplate<'a> {
    /// `spec.jobTemplate.spec`.
    #[serde(default, borrow)]
    pub spec: JobSpec<'a>,
}

/// `spec.jobTemplate.spec` of a CronJob: a Job's spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct JobSpec<'a> {
    /// `spec.jobTemplate.spec.template`.
    #[serde(default, borrow)]
    pub template: Option<PodTemplate<'a>>,
}

/// A pod template.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct PodTemplate<'a> {
    /// `template.spec`.
    #[serde(default, borrow)]
    pub spec: PodSpec<'a>,
}

impl<'a> PodController<'a> {
    /// The pod spec its pods are made from.
    pub fn pod_spec(&self) -> Option<&PodSpec<'a>> {
        match (&self.spec.template, &self.spec.job_template) {
            (Some(t), _) => Some(&t.spec),
            (None, Some(j)) => j.spec.template.as_ref().map(|t| &t.spec),
            (None, None) => None,
        }
    }
}

/// A core/v1 Pod, reduced to its host path volumes and mounts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct Pod<'a> {
    /// Its metadata.
    #[serde(default, borrow)]
    pub metadata: Meta<'a>,
    /// `spec`.
    #[serde(default, borrow)]
    pub spec: PodSpec<'a>,
}

/// The part of a pod spec the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct PodSpec<'a> {
    /// `spec.nodeName`, when the pod is created already bound.
    #[serde(default, borrow)]
    pub node_name: Option<Str<'a>>,
    /// `spec.volumes`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub volumes: Vec<Volume<'a>>,
    /// `spec.initContainers`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container<'a>>,
    /// `spec.containers`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub containers: Vec<Container<'a>>,
    /// `spec.ephemeralContainers`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub ephemeral_containers: Vec<Container<'a>>,
}

impl PodSpec<'_> {
    /// Every container: init, regular and ephemeral.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container<'_>> {
        self.init_containers
            .iter()
            .chain(&self.containers)
            .chain(&self.ephemeral_containers)
    }
}

/// A pod volume; only host path volumes matter here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct Volume<'a> {
    /// `name`.
    #[serde(default, borrow)]
    pub name: Str<'a>,
    /// `hostPath`.
    #[serde(default, borrow)]
    pub host_path: Option<HostPathSource<'a>>,
}

/// `volumes[].hostPath`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
pub struct HostPathSource<'a> {
    /// `path`.
    #[serde(default, borrow)]
    pub path: Str<'a>,
    /// `type`: empty or absent for no check; `Directory`, `DirectoryOrCreate`,
    /// `File`, `FileOrCreate`, `Socket`, `CharDevice`, `BlockDevice`.
    #[serde(default, borrow, rename = "type")]
    pub path_type: Option<Str<'a>>,
}

/// A container, reduced to its volume mounts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct Container<'a> {
    /// `name`.
    #[serde(default, borrow)]
    pub name: Str<'a>,
    /// `volumeMounts`.
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    pub volume_mounts: Vec<VolumeMount<'a>>,
}

/// `containers[].volumeMounts[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount<'a> {
    /// The volume's name.
    #[serde(default, borrow)]
    pub name: Str<'a>,
    /// `mountPropagation`: `None`, `HostToContainer` or `Bidirectional`.
    #[serde(default, borrow)]
    pub mount_propagation: Option<Str<'a>>,
    /// `subPath`.
    #[serde(default, borrow)]
    pub sub_path: Option<Str<'a>>,
    /// `subPathExpr`.
    #[serde(default, borrow)]
    pub sub_path_expr: Option<Str<'a>>,
}

/// Implements `Deserialize` for structs derived with `#[serde(remote = "Self")]`
/// so that only a JSON object decodes into them. serde's derive also takes
/// a JSON list, field by field in order (`"spec": []` read as an empty
/// spec, `"spec": [null, [volumes...]]` as a spec); Go's decoder, and so the
/// API server and longhorn-manager, refuse it, and so does this.
macro_rules! object_only {
    ($($ty:ident),* $(,)?) => {$(
        impl<'de: 'a, 'a> serde::Deserialize<'de> for $ty<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<'a>(std::marker::PhantomData<&'a ()>);
                impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
                    type Value = $ty<'a>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("an object (", stringify!($ty), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<Self::Value, A::Error> {
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(V(std::marker::PhantomData))
            }
        }
    )*};
}

pub(crate) use object_only;

object_only!(
    Meta,
    NamespaceMeta,
    Namespace,
    KubeNode,
    KubeNodeMeta,
    LonghornNode,
    LonghornNodeSpec,
    LonghornDisk,
    Setting,
    ConfigMap,
    PodController,
    ControllerSpec,
    JobTemplate,
    JobSpec,
    PodTemplate,
    Pod,
    PodSpec,
    Volume,
    HostPathSource,
    Container,
    VolumeMount,
);

/// The Kubernetes API accepts `null` for a list or map; treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
