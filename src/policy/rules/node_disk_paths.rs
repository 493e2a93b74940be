//! LTG-W010: no disk of a `nodes.longhorn.io` object may sit where it fails
//! or loses its data on Talos (the read-only root, a tmpfs, `/dev`, `/proc`,
//! `/sys`, `/`, a relative path), and a block disk must be a device or a PCI
//! address. Ratcheting: only disks the request adds or changes deny.

use crate::base::Mode;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::violation::DiskSource;
use crate::policy::writes::Writes;
use crate::policy::{Facts, Kind, Operation, Phase, Request};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W010",
    group: "diskPaths",
    default_mode: Mode::Enforce,
    summary: "Longhorn node disks are not on the read-only root, a tmpfs or a kernel filesystem",
    phase: Phase::Validate,
    kinds: &[Kind::LonghornNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

fn check(_: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let Some(set) = writes
        .disks
        .as_ref()
        .filter(|s| s.source == DiskSource::LonghornNode)
    else {
        return Outcome::default();
    };
    let (violations, warnings) = set.unusable();
    Outcome {
        violations,
        warnings,
        patch: Vec::new(),
    }
}
