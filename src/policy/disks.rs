//! Judging Longhorn data paths with the Talos host model, shared by the
//! rules that read disks (a Longhorn node's `spec.disks`, the default-disks
//! annotation, the `default-data-path` setting).

use super::violation::{DiskSource, EphemeralWhy, PathProblem, Problem, Violation};
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

/// One disk to judge: its name, path, type, and whether this request adds
/// or changes it (ratcheting: only those deny).
#[derive(Debug, Clone, Copy)]
pub struct DiskToJudge<'d> {
    /// The disk's name.
    pub name: &'d str,
    /// Its path as written.
    pub path: &'d str,
    /// Its `diskType`.
    pub disk_type: DiskType<'d>,
    /// True when this request adds or changes the disk.
    pub judged: bool,
}

/// Where a set of disks is and what they are judged against.
pub struct DiskContext<'c> {
    /// Where the disks were written.
    pub source: DiskSource,
    /// The node's name.
    pub node: &'c str,
    /// The paths the operator vouches for on that node.
    pub mounts: &'c [AllowedMount],
    /// The node's machine config, when known.
    pub layout: Option<&'c Layout>,
}

/// Disks that fail or lose data: a bad disk this request adds or changes is
/// a violation, one that was already there a warning. A disk of a type the
/// guard does not know is a warning naming the type, its path unjudged.
/// Returns `(violations, warnings)`.
pub fn unusable_disks<'d>(
    ctx: &DiskContext<'_>,
    field: impl Fn(&str) -> String,
    disks: impl IntoIterator<Item = DiskToJudge<'d>>,
) -> (Vec<Violation>, Vec<Violation>) {
    let (mut violations, mut warnings) = (Vec::new(), Vec::new());
    for d in disks {
        let problem = match d.disk_type {
            DiskType::Block => check_block_path(d.path).err(),
            DiskType::Filesystem => match data_path(d.path, ctx.mounts, ctx.layout) {
                DataPath::Unusable(p) => Some(p),
                _ => None,
            },
            DiskType::Unknown(t) => {
                if d.judged {
                    warnings.push(Violation {
                        preexisting: false,
                        field: field(d.name),
                        value: t.to_string(),
                        problem: Problem::DiskTypeUnknown {
                            source: ctx.source,
                            node: ctx.node.to_string(),
                            disk: d.name.to_string(),
                            disk_type: t.to_string(),
                        },
                    });
                }
                None
            }
        };
        let Some(problem) = problem else {
            continue;
        };
        // A disk this request does not add or change was bad before: a
        // warning only (ratcheting).
        let list = if d.judged {
            &mut violations
        } else {
            &mut warnings
        };
        list.push(Violation {
            preexisting: !d.judged,
            field: field(d.name),
            value: d.path.to_string(),
            problem: Problem::DiskPath {
                source: ctx.source,
                node: ctx.node.to_string(),
                disk: d.name.to_string(),
                path: d.path.to_string(),
                problem,
            },
        });
    }
    (violations, warnings)
}

/// New or changed filesystem disks that keep their data on EPHEMERAL.
pub fn ephemeral_disks<'d>(
    ctx: &DiskContext<'_>,
    field: impl Fn(&str) -> String,
    disks: impl IntoIterator<Item = DiskToJudge<'d>>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for d in disks
        .into_iter()
        .filter(|d| d.judged && d.disk_type == DiskType::Filesystem)
    {
        if let DataPath::Ephemeral(why) = data_path(d.path, ctx.mounts, ctx.layout) {
            out.push(Violation {
                preexisting: false,
                field: field(d.name),
                value: d.path.to_string(),
                problem: Problem::DiskEphemeral {
                    source: ctx.source,
                    node: ctx.node.to_string(),
                    disk: d.name.to_string(),
                    path: d.path.to_string(),
                    why,
                },
            });
        }
    }
    out
}
