//! What every family of words shares: the names they use, the shape of a
//! family's words ([`Words`]), and how a warning and a denial are put
//! together. Below the family files; names none of them.

pub(super) use crate::base::HostPath;
pub(super) use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL as LABEL, DATA_PATH, DEFAULT_DISKS_ANNOTATION as ANNOTATION,
    DEFAULT_SETTING_KEY, HUGEPAGE_BYTES, PSA_PREFIX, RELEASES, hugepages_for, v2_modules_to_load,
};
pub(super) use crate::base::quantity::format_bytes;
pub(super) use crate::base::talos::{
    EPHEMERAL_COST, EPHEMERAL_COST_SHORT, extra_mount_inline, suggest_volume_name,
    user_volume_inline, volume_mount_point,
};
pub(super) use crate::host::Layout;
pub(super) use crate::policy::violation::{
    DiskSource, EnforceProblem, EphemeralWhy, PathProblem, PodPathProblem, Problem, Violation,
};

/// kubectl prints warnings on one line; Kubernetes advises keeping them short.
pub const MAX_WARNING_CHARS: usize = 119;

/// The words of one family of problems.
pub(super) struct Words {
    /// The denial for one rule's violations (all from one object, all of
    /// this family).
    pub denial: fn(&[Violation], Option<&Layout>) -> String,
    /// The short form of one violation of this family.
    pub short: fn(&Violation) -> String,
}

/// The warning for a data path on EPHEMERAL: `<who> "<path>" is on EPHEMERAL (...)`.
pub(super) fn on_ephemeral_short(who: &str, path: &str) -> String {
    warning(format!(
        "{who} {path:?} is on EPHEMERAL ({EPHEMERAL_COST_SHORT})"
    ))
}

/// The denial of a family whose denial is one whole sentence per violation.
pub(super) fn sentences(
    violations: &[Violation],
    layout: Option<&Layout>,
    sentence: fn(&Violation, Option<&Layout>) -> Option<String>,
) -> String {
    violations
        .iter()
        .filter_map(|v| sentence(v, layout))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Cuts `text` to [`MAX_WARNING_CHARS`] characters, marking the cut.
pub(super) fn warning(text: String) -> String {
    if text.chars().count() <= MAX_WARNING_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_WARNING_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

/// Joins a header and numbered items, then the fix.
pub(super) fn object_denial(header: &str, items: &[String], fix: &str) -> String {
    let mut out = String::from(header);
    for item in items {
        out.push_str("\n  - ");
        out.push_str(item);
    }
    out.push_str("\nFix: ");
    out.push_str(fix);
    out
}
