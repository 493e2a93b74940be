//! Judging Longhorn data paths with the Talos host model, shared by the
//! rules that read disks (a Longhorn node's `spec.disks`, the default-disks
//! annotation, the `default-data-path` setting).

use super::violation::{EphemeralWhy, PathProblem};
use crate::base::paths::is_pci_address;
use crate::base::{AllowedMount, HostPath};
use crate::host::{self, Layout, Place, VolumeType};

/// The allowed mount that contains `path`, the most specific one first.
pub fn containing_mount<'m>(
    path: &HostPath,
    mounts: &'m [AllowedMount],
) -> Option<&'m AllowedMount> {
    mounts
        .iter()
        .filter(|m| path.is_within(&m.path))
        .max_by_key(|m| m.path.as_str().len())
}

/// What a data path is for Longhorn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPath {
    /// Longhorn can keep data there for good: a volume of its own, a path
    /// the operator vouches for (`allowedMounts`), or Longhorn's own
    /// `/var/lib/longhorn`.
    Usable,
    /// Works, but the data lives on the EPHEMERAL partition.
    Ephemeral(EphemeralWhy),
    /// Fails, or loses the data.
    Unusable(PathProblem),
}

/// Judges a filesystem data path: `mounts` are the paths the operator
/// vouches for, `layout` the node's machine config when known.
pub fn data_path(raw: &str, mounts: &[AllowedMount], layout: Option<&Layout>) -> DataPath {
    let path = match HostPath::parse(raw) {
        Ok(p) => p,
        Err(e) => return DataPath::Unusable(PathProblem::Invalid(e.to_string())),
    };
    if path.is_root() {
        return DataPath::Unusable(PathProblem::Root);
    }
    if containing_mount(&path, mounts).is_some() {
        return DataPath::Usable;
    }
    match host::classify(&path, layout) {
        Place::HostRoot => DataPath::Unusable(PathProblem::Root),
        Place::ReadOnlyRoot { .. } => DataPath::Unusable(PathProblem::ReadOnlyRoot),
        Place::Tmpfs { mount } => DataPath::Unusable(PathProblem::Tmpfs(mount)),
        Place::DevFs => DataPath::Unusable(PathProblem::DevFs),
        Place::KernelFs => DataPath::Unusable(PathProblem::KernelFs),
        Place::LonghornData | Place::AssumedVolume { .. } => DataPath::Usable,
        // A Talos 1.14 system volume on a partition of its own: not EPHEMERAL.
        Place::SystemVolume { .. } => DataPath::Usable,
        Place::Volume(v) => match v.volume_type {
            Some(VolumeType::Directory) => {
                DataPath::Ephemeral(EphemeralWhy::DirectoryVolume(v.name))
            }
            _ => DataPath::Usable,
        },
        Place::UndeclaredVolume { name } => {
            DataPath::Ephemeral(EphemeralWhy::UndeclaredVolume(name))
        }
        Place::Ephemeral => DataPath::Ephemeral(EphemeralWhy::Folder),
    }
}

/// Checks a V2 block disk path: a device under `/dev/` (outside the
/// filesystems Talos mounts there, such as the tmpfs `/dev/shm`) or a PCI
/// address.
pub fn check_block_path(raw: &str) -> Result<(), PathProblem> {
    if is_pci_address(raw) {
        return Ok(());
    }
    let path = HostPath::parse(raw).map_err(|e| PathProblem::Invalid(e.to_string()))?;
    if let Some((mount, fs)) = host::dev_filesystem(&path) {
        return Err(PathProblem::DevFilesystem { mount, fs });
    }
    if path.is_within_normalised("/dev") && path.as_str() != "/dev" {
        Ok(())
    } else {
        Err(PathProblem::NotDevice)
    }
}

/// A disk's `diskType`, as Longhorn's CRD allows it (longhorn-manager
/// `k8s/pkg/apis/longhorn/v1beta2/node.go`, v1.10 to v1.12: `filesystem` or
/// `block`, empty meaning filesystem), or a value the guard does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType<'d> {
    /// `filesystem`, empty or absent: a directory.
    Filesystem,
    /// `block`: a V2 block device or PCI address.
    Block,
    /// Anything else, as written (case-sensitive, as Longhorn compares).
    Unknown(&'d str),
}

impl<'d> DiskType<'d> {
    /// The type of a `diskType` value (`None` when absent).
    pub fn of(value: Option<&'d str>) -> DiskType<'d> {
        match value {
            None | Some("" | "filesystem") => DiskType::Filesystem,
            Some("block") => DiskType::Block,
            Some(other) => DiskType::Unknown(other),
        }
    }
}

/// What one disk of a review is for Longhorn: judged once, read by every
/// disk rule (LTG-W010, W011, W012, W013, W014, W020).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskClass {
    /// Longhorn can keep data there for good (a block disk: a device or a
    /// PCI address).
    Usable,
    /// A filesystem disk that works but keeps its data on EPHEMERAL.
    Ephemeral(EphemeralWhy),
    /// Fails, or loses the data.
    Unusable(PathProblem),
    /// A `diskType` the guard does not know, as written: its path is not
    /// judged.
    UnknownType(String),
}

/// Judges one disk: a block disk's path as a device, a filesystem disk's
/// as a data path (`mounts` are the paths the operator vouches for,
/// `layout` the node's machine config when known).
pub fn classify(
    disk_type: DiskType<'_>,
    path: &str,
    mounts: &[AllowedMount],
    layout: Option<&Layout>,
) -> DiskClass {
    match disk_type {
        DiskType::Block => match check_block_path(path) {
            Ok(()) => DiskClass::Usable,
            Err(problem) => DiskClass::Unusable(problem),
        },
        DiskType::Filesystem => match data_path(path, mounts, layout) {
            DataPath::Usable => DiskClass::Usable,
            DataPath::Ephemeral(why) => DiskClass::Ephemeral(why),
            DataPath::Unusable(problem) => DiskClass::Unusable(problem),
        },
        DiskType::Unknown(t) => DiskClass::UnknownType(t.to_string()),
    }
}
