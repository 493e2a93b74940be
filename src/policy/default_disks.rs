//! Longhorn's default disks on a Kubernetes node. When a node is labelled
//! `node.longhorn.io/create-default-disk=config`, Longhorn creates the disks
//! listed in its `node.longhorn.io/default-disks-config` annotation. Judging
//! the annotation when it is written tells the person writing it what is
//! wrong, rather than longhorn-manager's log after its own write is refused.

use serde::Deserialize;

use super::disk::{DiskFindings, DiskToJudge, judge_disks};
use super::messages::{self, PathProblem};
use super::objects::KubeNode;
use super::{Findings, Operation, Pair, Request, Verdict};
use crate::config::{Config, Mode};

/// The node label that makes Longhorn read [`ANNOTATION`] (value `config`).
pub const LABEL: &str = "node.longhorn.io/create-default-disk";

/// The node annotation listing the default disks, as JSON.
pub const ANNOTATION: &str = "node.longhorn.io/default-disks-config";

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
    if node.label(LABEL) == Some("config") {
        node.annotation(ANNOTATION)
    } else {
        None
    }
}

/// Judges the default disks of a Kubernetes node against its allowed mounts.
///
/// An UPDATE is judged only when it sets or changes the annotation Longhorn
/// reads (or turns the label to `config`); otherwise problems are warnings.
/// The nodes' own requests (`system:node:*`: the kubelet registering its
/// node with `--node-labels`, say) are never denied, only warned.
pub(crate) fn validate(
    req: &Request<'_>,
    pair: &Pair<KubeNode<'_>>,
    cfg: &Config,
    verdict: &mut Verdict,
) {
    let Some(node) = &pair.object else {
        return;
    };
    let Some(raw) = annotation(node) else {
        return;
    };
    let mode = match cfg.policies.disk_paths {
        Mode::Enforce if req.username.starts_with("system:node:") => Mode::Warn,
        mode => mode,
    };
    if mode == Mode::Off {
        return;
    }
    let judged = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => annotation(old) != Some(raw),
        _ => true,
    };
    let name = node.metadata.name.as_deref().unwrap_or(&req.name);
    let disks: Vec<DefaultDisk> = match serde_json::from_str(raw) {
        Ok(disks) => disks,
        Err(e) => {
            let mut findings = Findings::default();
            let short = messages::default_disks_unreadable_short(name);
            if judged {
                findings
                    .violations
                    .push(messages::default_disks_unreadable(name, &e.to_string()));
                findings.short.push(short);
            } else {
                findings.warnings.push(short);
            }
            findings.apply(mode, verdict, |items| items.join("\n"));
            return;
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
    let DiskFindings {
        findings,
        problems,
        example,
    } = judge_disks(name, to_judge, cfg.mounts_for_node(name));
    let refs: Vec<&PathProblem> = problems.iter().collect();
    findings.apply(mode, verdict, |items| {
        messages::default_disks_denial(name, items, &refs, &example)
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::objects::{KubeNodeMeta, Str};
    use crate::policy::{Facts, Phase, Subject, evaluate};

    fn node<'a>(label: Option<&'a str>, disks: Option<&'a str>) -> KubeNode<'a> {
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        if let Some(v) = label {
            labels.insert(Str::from(LABEL), Str::from(v));
        }
        if let Some(v) = disks {
            annotations.insert(Str::from(ANNOTATION), Str::from(v));
        }
        KubeNode {
            metadata: KubeNodeMeta {
                name: Some("worker-1".into()),
                labels,
                annotations,
            },
        }
    }

    fn run<'a>(
        operation: Operation,
        user: &'a str,
        new: KubeNode<'a>,
        old: Option<KubeNode<'a>>,
        cfg: &Config,
    ) -> Verdict {
        let req = Request {
            operation,
            name: "worker-1".into(),
            namespace: "".into(),
            username: user.into(),
            subject: Subject::KubeNode(Pair {
                object: Some(new),
                old,
            }),
        };
        evaluate(Phase::Validate, &req, cfg, &Facts::default())
    }

    const ADMIN: &str = "admin";
    const GOOD: &str = r#"[{"path":"/var/lib/longhorn","allowScheduling":true}]"#;
    const BAD: &str = r#"[{"path":"/var/lib/longhorn/a"},{"name":"fast","path":"/mnt/ssd"},{"path":"/","name":"root"}]"#;

    #[test]
    fn a_bad_path_in_the_annotation_is_denied_with_every_disk_named() {
        let cfg = Config::default();
        let v = run(
            Operation::Update,
            ADMIN,
            node(Some("config"), Some(BAD)),
            Some(node(None, None)),
            &cfg,
        );
        let msg = v.denial.expect("denied");
        assert!(
            msg.starts_with(
                "Kubernetes node \"worker-1\": annotation node.longhorn.io/default-disks-config"
            ),
            "{msg}"
        );
        assert!(msg.contains("2 disk problems"), "{msg}");
        assert!(
            msg.contains(
                "disk \"fast\": path \"/mnt/ssd\" is outside the allowed mounts (/var/lib/longhorn)"
            ),
            "{msg}"
        );
        assert!(msg.contains("disk \"root\": path \"/\""), "{msg}");
        assert!(!msg.contains("[0]"), "the good disk is not named: {msg}");
        assert!(
            msg.contains("extraMounts: [{destination: /mnt/ssd"),
            "{msg}"
        );
    }

    #[test]
    fn good_paths_an_unlabelled_node_and_other_label_values_pass() {
        let cfg = Config::default();
        for (label, disks) in [
            (Some("config"), Some(GOOD)),
            (None, Some(BAD)),
            (Some("true"), Some(BAD)),
            (Some("config"), None),
            (
                Some("config"),
                Some(r#"[{"path":"/dev/nvme0n1","diskType":"block"}]"#),
            ),
        ] {
            let v = run(Operation::Update, ADMIN, node(label, disks), None, &cfg);
            assert_eq!(v, Verdict::default(), "{label:?} {disks:?}");
        }
    }

    #[test]
    fn unreadable_json_is_denied_with_the_parse_error() {
        let cfg = Config::default();
        for (raw, part) in [
            (r#"[{"path":"/var/lib/longhorn""#, "EOF while parsing"),
            (r#"{"path":"/var/lib/longhorn"}"#, "expected a sequence"),
            (r#"[{"allowScheduling":true}]"#, "missing field `path`"),
        ] {
            let v = run(
                Operation::Update,
                ADMIN,
                node(Some("config"), Some(raw)),
                None,
                &cfg,
            );
            let msg = v.denial.unwrap_or_else(|| panic!("{raw} must be denied"));
            assert!(msg.contains("is not a JSON list of disks"), "{msg}");
            assert!(msg.contains(part), "{raw}: {msg}");
        }
    }

    #[test]
    fn ratcheting_only_a_new_or_changed_annotation_denies() {
        let cfg = Config::default();
        // Unchanged bad annotation (someone edits another label): a warning.
        let v = run(
            Operation::Update,
            ADMIN,
            node(Some("config"), Some(BAD)),
            Some(node(Some("config"), Some(BAD))),
            &cfg,
        );
        assert!(v.allowed());
        assert_eq!(v.warnings.len(), 2, "{:?}", v.warnings);
        assert!(v.warnings[0].contains("existing path"), "{:?}", v.warnings);
        // The label turned to config over an old annotation: judged.
        let v = run(
            Operation::Update,
            ADMIN,
            node(Some("config"), Some(BAD)),
            Some(node(Some("true"), Some(BAD))),
            &cfg,
        );
        assert!(v.denial.is_some());
    }

    #[test]
    fn the_nodes_own_requests_are_only_warned() {
        let cfg = Config::default();
        for op in [Operation::Create, Operation::Update] {
            let v = run(
                op,
                "system:node:worker-1",
                node(Some("config"), Some(BAD)),
                None,
                &cfg,
            );
            assert!(v.allowed(), "{op:?}");
            assert_eq!(v.warnings.len(), 2, "{:?}", v.warnings);
            assert!(
                v.warnings
                    .iter()
                    .all(|w| w.contains("not a usable Longhorn data path")),
                "{:?}",
                v.warnings
            );
        }
        // A node created by anyone else (kubectl, a manifest check) is judged.
        let v = run(
            Operation::Create,
            ADMIN,
            node(Some("config"), Some(BAD)),
            None,
            &cfg,
        );
        assert!(v.denial.is_some());
    }

    #[test]
    fn per_node_mounts_and_mode_off_apply() {
        let mut cfg = Config::from_yaml(
            "nodes:\n  worker-1:\n    allowedMounts: [{path: /mnt/ssd}, {path: /srv}]\n",
            "test",
        )
        .unwrap();
        let per_node = r#"[{"path":"/mnt/ssd"},{"path":"/srv/x"}]"#;
        let v = run(
            Operation::Update,
            ADMIN,
            node(Some("config"), Some(per_node)),
            None,
            &cfg,
        );
        assert_eq!(v, Verdict::default());
        cfg.policies.disk_paths = Mode::Off;
        let v = run(
            Operation::Update,
            ADMIN,
            node(Some("config"), Some(BAD)),
            None,
            &cfg,
        );
        assert_eq!(v, Verdict::default());
    }
}
