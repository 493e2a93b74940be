//! LTG-W020: a new V2 block disk needs its node to report at least
//! `v2MinHugepages` of `hugepages-2Mi` (Longhorn's `data-engine-memory-size`).
//! The node's capacity is a cluster fact, looked up before the check.

use crate::base::Mode;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, longhorn_itself};
use crate::policy::violation::DiskSource;
use crate::policy::writes::Writes;
use crate::policy::{
    FactQuery, Facts, Hugepages, Kind, Operation, Phase, Problem, Request, Violation,
};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W020",
    group: "blockDisks",
    default_mode: Mode::Enforce,
    summary: "a node with a new V2 block disk reports enough hugepages-2Mi",
    phase: Phase::Validate,
    kinds: &[Kind::LonghornNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts,
    check,
};

/// The new or changed block disks of a Longhorn node request, and the
/// node's name.
fn new_block_disks<'w>(writes: &'w Writes<'_>) -> Option<(&'w str, Vec<&'w str>)> {
    let set = writes
        .disks
        .as_ref()
        .filter(|s| s.source == DiskSource::LonghornNode)?;
    let disks: Vec<&str> = set
        .disks
        .iter()
        .filter(|d| d.judged && d.block)
        .map(|d| d.name.as_str())
        .collect();
    (!disks.is_empty()).then_some((set.node.as_str(), disks))
}

fn facts(_: &Request<'_>, _: &Config, writes: &Writes<'_>) -> Vec<FactQuery> {
    new_block_disks(writes)
        .map(|(node, _)| vec![FactQuery::Hugepages(node.to_string())])
        .unwrap_or_default()
}

fn check(_: &Request<'_>, cfg: &Config, facts: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some((node, disks)) = new_block_disks(writes) else {
        return out;
    };
    let need = cfg.v2_min_hugepages_bytes;
    let unknown = |why: &str| Violation {
        preexisting: false,
        field: "status.allocatable[\"hugepages-2Mi\"]".into(),
        value: String::new(),
        problem: Problem::HugepagesUnknown {
            node: node.to_string(),
            why: why.to_string(),
        },
    };
    match &facts.hugepages {
        Some(Hugepages::Known(have)) if *have < need => {
            for disk in disks {
                out.violations.push(Violation {
                    preexisting: false,
                    field: format!("spec.disks.{disk}.diskType"),
                    value: "block".into(),
                    problem: Problem::Hugepages {
                        node: node.to_string(),
                        disk: disk.to_string(),
                        have: *have,
                        need,
                    },
                });
            }
        }
        Some(Hugepages::Known(_)) => {}
        Some(Hugepages::Unknown(why)) => out.warnings.push(unknown(why)),
        None => out.warnings.push(unknown("no look-up was made")),
    }
    out
}
