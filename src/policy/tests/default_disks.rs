use std::collections::BTreeMap;

use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL as LABEL, DEFAULT_DISKS_ANNOTATION as ANNOTATION,
};
use crate::config::Config;
use crate::policy::objects::KubeNode;
use crate::policy::objects::{KubeNodeMeta, Str};
use crate::policy::{Facts, Phase, Subject, evaluate};
use crate::policy::{Operation, Pair, Request, Verdict};

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
        msg.contains("disk \"fast\": path \"/mnt/ssd\" is on Talos's read-only root filesystem"),
        "{msg}"
    );
    assert!(msg.contains("disk \"root\": path \"/\""), "{msg}");
    assert!(!msg.contains("[0]"), "the good disk is not named: {msg}");
    assert!(msg.contains("use /var/mnt/ssd as the disk path"), "{msg}");
    assert!(!msg.contains("extraMounts"), "{msg}");
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
    cfg.policies.set("diskPaths", crate::base::Mode::Off);
    let v = run(
        Operation::Update,
        ADMIN,
        node(Some("config"), Some(BAD)),
        None,
        &cfg,
    );
    assert_eq!(v, Verdict::default());
}
