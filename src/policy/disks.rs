//! Judging Longhorn data paths, shared by the rules that read disks (a
//! Longhorn node's `spec.disks`, the default-disks annotation, the
//! `default-data-path` setting).

use super::violation::{DiskSource, PathProblem, Problem, Violation};
use crate::base::paths::is_pci_address;
use crate::base::{AllowedMount, HostPath};

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

/// The paths of `mounts`, for a [`PathProblem::Outside`].
pub fn mount_paths(mounts: &[AllowedMount]) -> Vec<HostPath> {
    mounts.iter().map(|m| m.path.clone()).collect()
}

/// Checks a filesystem data path against the allowed mounts.
pub fn check_data_path(raw: &str, mounts: &[AllowedMount]) -> Result<HostPath, PathProblem> {
    let path = HostPath::parse(raw).map_err(|e| PathProblem::Invalid(e.to_string()))?;
    if path.is_root() {
        return Err(PathProblem::Root);
    }
    match containing_mount(&path, mounts) {
        Some(_) => Ok(path),
        None => Err(PathProblem::Outside(mount_paths(mounts))),
    }
}

/// Checks a V2 block disk path: a device under `/dev/` or a PCI address.
pub fn check_block_path(raw: &str) -> Result<(), PathProblem> {
    if is_pci_address(raw) {
        return Ok(());
    }
    let path = HostPath::parse(raw).map_err(|e| PathProblem::Invalid(e.to_string()))?;
    if path.is_within_normalised("/dev") && path.as_str() != "/dev" {
        Ok(())
    } else {
        Err(PathProblem::NotDevice)
    }
}

/// One disk to judge: its name, path, whether it is a block disk, and
/// whether this request adds or changes it (ratcheting: only those deny).
#[derive(Debug, Clone, Copy)]
pub struct DiskToJudge<'d> {
    /// The disk's name.
    pub name: &'d str,
    /// Its path as written.
    pub path: &'d str,
    /// True for a V2 block disk.
    pub block: bool,
    /// True when this request adds or changes the disk.
    pub judged: bool,
}

/// Judges the disk paths of node `node` against `mounts`: a bad disk this
/// request adds or changes is a violation, one that was already there a
/// warning. Returns `(violations, warnings)`.
pub fn judge_disks<'d>(
    source: DiskSource,
    field: impl Fn(&str) -> String,
    node: &str,
    disks: impl IntoIterator<Item = DiskToJudge<'d>>,
    mounts: &[AllowedMount],
) -> (Vec<Violation>, Vec<Violation>) {
    let (mut violations, mut warnings) = (Vec::new(), Vec::new());
    for d in disks {
        let checked = if d.block {
            check_block_path(d.path)
        } else {
            check_data_path(d.path, mounts).map(|_| ())
        };
        let Err(problem) = checked else {
            continue;
        };
        let (list, problem) = if d.judged {
            (
                &mut violations,
                Problem::DiskPath {
                    source,
                    node: node.to_string(),
                    disk: d.name.to_string(),
                    path: d.path.to_string(),
                    problem,
                },
            )
        } else {
            (
                &mut warnings,
                Problem::DiskPreexisting {
                    node: node.to_string(),
                    disk: d.name.to_string(),
                    path: d.path.to_string(),
                },
            )
        };
        list.push(Violation {
            field: field(d.name),
            value: d.path.to_string(),
            problem,
        });
    }
    (violations, warnings)
}
