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
use crate::base::gojson::{self, DefaultDisk, GoJsonError};
use crate::base::longhorn::{CREATE_DEFAULT_DISK_LABEL, DEFAULT_DISKS_ANNOTATION};
use crate::config::Config;
use crate::policy::Subject;
use crate::policy::disks::{DiskContext, DiskToJudge, DiskType, unusable_disks};
use crate::policy::objects::KubeNode;
use crate::policy::rule::{Outcome, Rule, no_facts, nodes_and_longhorn};
use crate::policy::violation::DiskSource;
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

/// The default disks a request writes, read as Longhorn reads them.
pub(crate) struct Annotated<'r> {
    /// The node's name.
    pub node: &'r str,
    /// The annotation's text.
    pub raw: &'r str,
    /// True when this request sets or changes what Longhorn reads.
    pub judged: bool,
    /// The disks as Go's encoding/json decodes them, or why they do not.
    pub disks: Result<Vec<DefaultDisk>, GoJsonError>,
    /// The field the annotation is in.
    pub field: String,
}

impl Annotated<'_> {
    /// The disks with their display names (`[i]` for an unnamed one).
    pub fn to_judge<'d>(&self, disks: &'d [DefaultDisk]) -> Vec<(String, &'d str, DiskType<'d>)> {
        disks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = if d.name.is_empty() {
                    format!("[{i}]")
                } else {
                    d.name.clone()
                };
                (name, d.path.as_str(), DiskType::of(Some(&d.disk_type)))
            })
            .collect()
    }
}

/// The default disks of a Kubernetes node request, if Longhorn will read any.
pub(crate) fn annotated<'r>(req: &'r Request<'_>) -> Option<Annotated<'r>> {
    let Subject::KubeNode(pair) = &req.subject else {
        return None;
    };
    let node = pair.object.as_ref()?;
    let raw = annotation(node)?;
    let judged = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => annotation(old) != Some(raw),
        _ => true,
    };
    Some(Annotated {
        node: req.name_of(node.metadata.name.as_deref()),
        raw,
        judged,
        disks: gojson::default_disks(raw),
        field: format!("metadata.annotations[\"{DEFAULT_DISKS_ANNOTATION}\"]"),
    })
}

/// The annotation Longhorn will read from `node`: only with the label at
/// `config` in any case Go's `strings.ToLower` folds (`Config`, `CONFIG`).
fn annotation<'n>(node: &'n KubeNode<'_>) -> Option<&'n str> {
    if node
        .label(CREATE_DEFAULT_DISK_LABEL)
        .is_some_and(gojson::label_reads_annotation)
    {
        node.annotation(DEFAULT_DISKS_ANNOTATION)
    } else {
        None
    }
}

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Some(a) = annotated(req) else {
        return out;
    };
    let disks = match &a.disks {
        Ok(disks) => disks,
        Err(e) => {
            let v = Violation {
                preexisting: false,
                field: a.field.clone(),
                value: a.raw.to_string(),
                problem: Problem::DefaultDisksUnreadable {
                    node: a.node.to_string(),
                    error: e.to_string(),
                },
            };
            if a.judged {
                out.violations.push(v);
            } else {
                out.warnings.push(v);
            }
            return out;
        }
    };
    let named = a.to_judge(disks);
    let to_judge = named.iter().map(|(name, path, disk_type)| DiskToJudge {
        name,
        path,
        disk_type: *disk_type,
        judged: a.judged,
    });
    let ctx = DiskContext {
        source: DiskSource::DefaultDisks,
        node: a.node,
        mounts: cfg.mounts_for_node(a.node),
        layout: cfg.host.as_ref(),
    };
    let (violations, warnings) = unusable_disks(&ctx, |_| a.field.clone(), to_judge);
    out.violations = violations;
    out.warnings = warnings;
    out
}
