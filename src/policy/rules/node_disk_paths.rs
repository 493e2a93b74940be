//! LTG-W010: every disk of a `nodes.longhorn.io` object must be usable: a
//! filesystem disk inside an allowed mount, a block disk a device or a PCI
//! address. Ratcheting: only disks the request adds or changes deny.

use super::{node_disks, node_name};
use crate::config::Config;
use crate::policy::disks::{DiskToJudge, judge_disks};
use crate::policy::registry::{Outcome, Rule, no_facts};
use crate::policy::violation::DiskSource;
use crate::policy::{Facts, Kind, Operation, Phase, Request, Subject};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W010",
    group: "diskPaths",
    summary: "Longhorn node disks lie inside an allowed mount (filesystem) or are devices (block)",
    phase: Phase::Validate,
    kinds: &[Kind::LonghornNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only_users: &[],
    facts: no_facts,
    check,
};

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let Subject::LonghornNode(pair) = &req.subject else {
        return Outcome::default();
    };
    let Some(node) = &pair.object else {
        return Outcome::default();
    };
    let name = node_name(req, node);
    let disks = node_disks(req, pair);
    let judged = disks.iter().map(|(disk, d, judged)| DiskToJudge {
        name: disk,
        path: &d.path,
        block: d.is_block(),
        judged: *judged,
    });
    let (violations, warnings) = judge_disks(
        DiskSource::LonghornNode,
        |disk| format!("spec.disks.{disk}.path"),
        name,
        judged,
        cfg.mounts_for_node(name),
    );
    Outcome {
        violations,
        warnings,
        patch: Vec::new(),
    }
}
