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
        (
            r#"{"path":"/var/lib/longhorn"}"#,
            "the annotation is an object where Longhorn expects a list of disks",
        ),
        (
            r#"[{"path":"/var/lib/longhorn","storageReserved":"10Gi"}]"#,
            "disk [0] key \"storageReserved\" is a string where Longhorn expects a whole number of bytes",
        ),
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
    cfg.policies
        .set("diskPaths", crate::base::Mode::Off)
        .unwrap();
    let v = run(
        Operation::Update,
        ADMIN,
        node(Some("config"), Some(BAD)),
        None,
        &cfg,
    );
    assert_eq!(v, Verdict::default());
}

#[test]
fn the_annotation_is_read_as_longhorn_reads_it() {
    // longhorn-manager types/types.go UnmarshalToDisks (v1.10.0 to v1.12.1):
    // encoding/json into []DiskSpecWithName; keys fold, the last wins.
    let cfg = Config::default();
    let deny = |label: &str, raw: &str| {
        let v = run(
            Operation::Create,
            ADMIN,
            node(Some(label), Some(raw)),
            None,
            &cfg,
        );
        let text = format!("{v:?}");
        v.denial
            .unwrap_or_else(|| panic!("{label} {raw} must be denied: {text}"))
    };
    let msg = deny(
        "config",
        r#"[{"path":"/var/lib/longhorn/ok","Path":"/mnt/ssd"}]"#,
    );
    assert!(msg.contains(r#"path "/mnt/ssd""#), "{msg}");
    for raw in [
        r#"[{"path":"/dev/sdb","diskType":"block","DiskType":"filesystem"}]"#,
        "[{\"path\":\"/dev/sdb\",\"di\u{17F}kType\":\"filesystem\",\"diskType\":\"block\",\"DISKTYPE\":\"filesystem\"}]",
    ] {
        let msg = deny("config", raw);
        assert!(msg.contains(r#"path "/dev/sdb""#), "{raw}: {msg}");
    }
    // A block disk spelled with the long s is a block disk: /dev/sdb is fine.
    let v = run(
        Operation::Create,
        ADMIN,
        node(
            Some("config"),
            Some("[{\"path\":\"/dev/sdb\",\"di\u{17F}kType\":\"block\"}]"),
        ),
        None,
        &cfg,
    );
    assert!(v.allowed(), "{v:?}");
    // The label, lower-cased by strings.ToLower
    // (controller/kubernetes_node_controller.go syncDefaultDisks).
    for label in ["Config", "CONFIG", "cOnFiG", "CONF\u{130}G"] {
        let msg = deny(label, r#"[{"path":"/mnt/ssd"}]"#);
        assert!(msg.contains("/mnt/ssd"), "{label}: {msg}");
    }
    for label in ["config ", "CONF\u{131}G", "true", "TRUE"] {
        let v = run(
            Operation::Create,
            ADMIN,
            node(Some(label), Some(r#"[{"path":"/mnt/ssd"}]"#)),
            None,
            &cfg,
        );
        assert_eq!(v, Verdict::default(), "{label:?} is not read as config");
    }
}

#[test]
fn an_unknown_disk_type_in_the_annotation_is_a_warning() {
    let cfg = Config::default();
    let v = run(
        Operation::Create,
        ADMIN,
        node(
            Some("config"),
            Some(r#"[{"name":"n","path":"/","diskType":"nvme-of"}]"#),
        ),
        None,
        &cfg,
    );
    assert!(v.allowed(), "{v:?}");
    assert_eq!(
        v.warnings,
        [
            "node worker-1 disk n: diskType \"nvme-of\" is not filesystem or block; its path was not checked"
        ]
    );
}
