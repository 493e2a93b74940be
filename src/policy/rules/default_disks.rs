//! LTG-W012: Longhorn's default disks on a Kubernetes node. When a node is
//! labelled `node.longhorn.io/create-default-disk=config`, Longhorn creates
//! the disks listed in its `node.longhorn.io/default-disks-config`
//! annotation; each gets the disk path rules when the annotation is written,
//! so the person writing it sees what is wrong rather than
//! longhorn-manager's log after its own write is refused.
//!
//! The annotation is read as longhorn-manager reads it (Go's encoding/json,
//! [`crate::base::gojson`]), and the label in any case Longhorn accepts.
//!
//! An UPDATE is judged only when it sets or changes the annotation Longhorn
//! reads (or turns the label to `config`); otherwise problems are warnings.
//! The nodes' own requests (`system:node:*`: the kubelet registering its node
//! with `--node-labels`, say) are never denied, only warned.

use crate::base::Mode;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, no_facts, nodes_and_longhorn};
use crate::policy::writes::Writes;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W012",
    group: "diskPaths",
    default_mode: Mode::Enforce,
    summary: "the default disks of a node labelled create-default-disk=config are usable",
    phase: Phase::Validate,
    kinds: &[Kind::KubeNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only: nodes_and_longhorn,
    facts: no_facts,
    check,
};

fn check(_: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(a) = &writes.default_disks else {
        return out;
    };
    if let Err(e) = &a.disks {
        // An annotation this request leaves as it was only warns.
        out.add(Violation {
            preexisting: !a.judged,
            field: a.field.clone(),
            value: a.raw.to_string(),
            problem: Problem::DefaultDisksUnreadable {
                node: a.node.to_string(),
                error: e.to_string(),
            },
        });
        return out;
    }
    if let Some(set) = &writes.disks {
        (out.violations, out.warnings) = set.unusable();
    }
    out
}
