//! Typed views of the objects the policies read: only the fields they need, so
//! that decoding skips everything else (a Pod's status, managed fields, ...).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The metadata fields the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.labels`; `None` when the object has no labels map at all.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A core/v1 Namespace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Namespace {
    /// Its metadata.
    #[serde(default)]
    pub metadata: Meta,
}

/// A `nodes.longhorn.io` object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LonghornNode {
    /// Its metadata; the name is the Kubernetes node's name.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: LonghornNodeSpec,
}

/// The part of a Longhorn node's spec the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct LonghornNodeSpec {
    /// `spec.disks`, by disk name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub disks: BTreeMap<String, LonghornDisk>,
}

/// One entry of `spec.disks`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LonghornDisk {
    /// `path`: a directory (filesystem disk) or a device / PCI address (block disk).
    #[serde(default)]
    pub path: String,
    /// `diskType`: `filesystem` (the default when empty) or `block`.
    #[serde(default)]
    pub disk_type: Option<String>,
}

impl LonghornDisk {
    /// True for a V2 block disk.
    pub fn is_block(&self) -> bool {
        self.disk_type.as_deref() == Some("block")
    }
}

/// A `settings.longhorn.io` object: the value is top-level, not under spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Setting {
    /// Its metadata; the name is the setting's name (`default-data-path`).
    #[serde(default)]
    pub metadata: Meta,
    /// `value`.
    #[serde(default)]
    pub value: Option<String>,
}

/// A core/v1 Pod, reduced to its host path volumes and mounts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Pod {
    /// Its metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: PodSpec,
}

/// The part of a pod spec the policies read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `spec.nodeName`, when the pod is created already bound.
    #[serde(default)]
    pub node_name: Option<String>,
    /// `spec.volumes`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<Volume>,
    /// `spec.initContainers`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container>,
    /// `spec.containers`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    /// `spec.ephemeralContainers`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ephemeral_containers: Vec<Container>,
}

impl PodSpec {
    /// Every container: init, regular and ephemeral.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers
            .iter()
            .chain(&self.containers)
            .chain(&self.ephemeral_containers)
    }
}

/// A pod volume; only host path volumes matter here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `hostPath`.
    #[serde(default)]
    pub host_path: Option<HostPathSource>,
}

/// `volumes[].hostPath`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HostPathSource {
    /// `path`.
    #[serde(default)]
    pub path: String,
}

/// A container, reduced to its volume mounts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `volumeMounts`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volume_mounts: Vec<VolumeMount>,
}

/// `containers[].volumeMounts[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The volume's name.
    #[serde(default)]
    pub name: String,
    /// `mountPath` in the container.
    #[serde(default)]
    pub mount_path: String,
    /// `mountPropagation`: `None`, `HostToContainer` or `Bidirectional`.
    #[serde(default)]
    pub mount_propagation: Option<String>,
}

/// The Kubernetes API accepts `null` for a list or map; treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
