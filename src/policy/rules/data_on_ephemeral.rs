//! LTG-W013: a new disk path that works but keeps its data on the EPHEMERAL
//! partition (a folder under `/var` or `/opt`, a `/var/mnt/<x>` the machine
//! config declares no volume for, a `directory` user volume): it shares the
//! system disk's capacity and is wiped by `talosctl reset`. Warns by default;
//! `policies: {LTG-W013: enforce}` makes it deny. Longhorn's own
//! `/var/lib/longhorn` (its Talos guide's path) is not flagged.

use crate::base::Mode;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::writes::Writes;
use crate::policy::{Facts, Kind, Operation, Phase, Request};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W013",
    group: "diskPaths",
    default_mode: Mode::Warn,
    summary: "new Longhorn data paths are not plain folders on the EPHEMERAL partition",
    phase: Phase::Validate,
    kinds: &[
        Kind::LonghornNode,
        Kind::LonghornSetting,
        Kind::KubeNode,
        Kind::ConfigMap,
    ],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

fn check(_: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    Outcome {
        violations: writes
            .disks
            .as_ref()
            .map(|set| set.ephemeral())
            .unwrap_or_default(),
        ..Outcome::default()
    }
}
