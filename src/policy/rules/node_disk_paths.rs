//! LTG-W010: no disk of a `nodes.longhorn.io` object may sit where it fails
//! or loses its data on Talos (the read-only root, a tmpfs, `/dev`, `/proc`,
//! `/sys`, `/`, a relative path), and a block disk must be a device or a PCI
//! address. Ratcheting: only disks the request adds or changes deny.

use super::node_name;
use crate::base::Mode;
use crate::config::Config;
use crate::policy::disks::{DiskContext, DiskToJudge, unusable_disks};
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::violation::DiskSource;
use crate::policy::writes::node_disks;
use crate::policy::{Facts, Kind, Operation, Phase, Request, Subject};

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
        disk_type: d.kind(),
        judged: *judged,
    });
    let ctx = DiskContext {
        source: DiskSource::LonghornNode,
        node: name,
        mounts: cfg.mounts_for_node(name),
        layout: cfg.host.as_ref(),
    };
    let (violations, warnings) =
        unusable_disks(&ctx, |disk| format!("spec.disks.{disk}.path"), judged);
    Outcome {
        violations,
        warnings,
        patch: Vec::new(),
    }
}
