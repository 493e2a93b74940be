//! LTG-W012: Longhorn's default disks on a Kubernetes node. When a node is
//! labelled `node.longhorn.io/create-default-disk=config`, Longhorn creates
//! the disks listed in its `node.longhorn.io/default-disks-config`
//! annotation; each gets the disk path rules when the annotation is written,
//! so the person writing it sees what is wrong rather than
//! longhorn-manager's log after its own write is refused.
//!
//! An UPDATE is judged only when it sets or changes the annotation Longhorn
//! reads (or turns the label to `config`); otherwise problems are warnings.
//! The nodes' own requests (`system:node:*`: the kubelet registering its node
//! with `--node-labels`, say) are never denied, only warned.

use serde::Deserialize;

use crate::base::longhorn::{CREATE_DEFAULT_DISK_LABEL, DEFAULT_DISKS_ANNOTATION};
use crate::config::Config;
use crate::policy::disks::{DiskToJudge, judge_disks};
use crate::policy::objects::KubeNode;
use crate::policy::registry::{Outcome, Rule, no_facts};
use crate::policy::violation::DiskSource;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W012",
    group: "diskPaths",
    summary: "the default disks of a node labelled create-default-disk=config are usable",
    phase: Phase::Validate,
    kinds: &[Kind::KubeNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only_users: &["system:node:"],
    facts: no_facts,
    check,
};

/// One disk of the annotation: the fields judged (Longhorn reads more).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultDisk {
    #[serde(default)]
    name: Option<String>,
    path: String,
    #[serde(default)]
    disk_type: Option<String>,
}

/// The annotation Longhorn will read from `node`: only with the label at `config`.
fn annotation<'n>(node: &'n KubeNode<'_>) -> Option<&'n str> {
    if node.label(CREATE_DEFAULT_DISK_LABEL) == Some("config") {
        node.annotation(DEFAULT_DISKS_ANNOTATION)
    } else {
        None
    }
}

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Subject::KubeNode(pair) = &req.subject else {
        return out;
    };
    let Some(node) = &pair.object else {
        return out;
    };
    let Some(raw) = annotation(node) else {
        return out;
    };
    let judged = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => annotation(old) != Some(raw),
        _ => true,
    };
    let name = node.metadata.name.as_deref().unwrap_or(&req.name);
    let field = format!("metadata.annotations[\"{DEFAULT_DISKS_ANNOTATION}\"]");
    let disks: Vec<DefaultDisk> = match serde_json::from_str(raw) {
        Ok(disks) => disks,
        Err(e) => {
            let v = Violation {
                field,
                value: raw.to_string(),
                problem: Problem::DefaultDisksUnreadable {
                    node: name.to_string(),
                    error: e.to_string(),
                },
            };
            if judged {
                out.violations.push(v);
            } else {
                out.warnings.push(v);
            }
            return out;
        }
    };
    let labels: Vec<String> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| d.name.clone().unwrap_or_else(|| format!("[{i}]")))
        .collect();
    let to_judge = disks.iter().zip(&labels).map(|(d, label)| DiskToJudge {
        name: label,
        path: &d.path,
        block: d.disk_type.as_deref() == Some("block"),
        judged,
    });
    let (violations, warnings) = judge_disks(
        DiskSource::DefaultDisks,
        |_| field.clone(),
        name,
        to_judge,
        cfg.mounts_for_node(name),
    );
    out.violations = violations;
    out.warnings = warnings;
    out
}
