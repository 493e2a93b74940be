use std::collections::BTreeMap;

use crate::base::longhorn::DEFAULT_DATA_PATH_SETTING;
use crate::config::Config;
use crate::policy::objects::{LonghornDisk, LonghornNode, Setting};
use crate::policy::objects::{LonghornNodeSpec, Meta};
use crate::policy::{Facts, Hugepages, Operation, Pair, Request, Verdict};
use crate::policy::{Phase, Subject, evaluate};

fn node(name: &str, disks: &[(&str, &str, &str)]) -> LonghornNode<'static> {
    LonghornNode {
        metadata: Meta {
            name: Some(name.to_string().into()),
            namespace: Some("longhorn-system".into()),
        },
        spec: LonghornNodeSpec {
            disks: disks
                .iter()
                .map(|(n, p, t)| {
                    (
                        n.to_string().into(),
                        LonghornDisk {
                            path: p.to_string().into(),
                            disk_type: (!t.is_empty()).then(|| t.to_string().into()),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        },
    }
}

fn request(
    op: Operation,
    new: Option<LonghornNode<'static>>,
    old: Option<LonghornNode<'static>>,
) -> Request<'static> {
    Request {
        operation: op,
        name: "worker-1".into(),
        namespace: "longhorn-system".into(),
        username: "admin".into(),
        subject: Subject::LonghornNode(Pair { object: new, old }),
    }
}

fn create(disks: &[(&str, &str, &str)], cfg: &Config, facts: &Facts) -> Verdict {
    let req = request(Operation::Create, Some(node("worker-1", disks)), None);
    evaluate(Phase::Validate, &req, cfg, facts)
}

#[test]
fn filesystem_path_table() {
    let cfg = Config::default();
    let cases = [
        ("/var/lib/longhorn", true, ""),
        ("/var/lib/longhorn/", true, ""),
        ("/var/lib/longhorn/disk-2", true, ""),
        ("/var/lib/longhorn/./x/../y", true, ""),
        (
            "/var/lib/longhorn2",
            false,
            "is outside the allowed mounts (/var/lib/longhorn)",
        ),
        (
            "/var/lib/longhorn/../etc",
            false,
            "is outside the allowed mounts",
        ),
        (
            "/var/lib/longhorn/../../../",
            false,
            "is / (the whole host)",
        ),
        ("/", false, "is / (the whole host)"),
        ("var/lib/longhorn", false, "the path is relative"),
        ("", false, "the path is empty"),
        (
            "/mnt/disk1",
            false,
            "sees only the host paths mounted into it",
        ),
    ];
    for (path, allowed, fragment) in cases {
        let v = create(&[("d1", path, "")], &cfg, &Facts::default());
        assert_eq!(v.allowed(), allowed, "{path:?}: {v:?}");
        if !allowed {
            let msg = v.denial.unwrap();
            assert!(msg.contains(fragment), "{path:?}: {msg}");
            assert!(
                msg.starts_with("Longhorn node \"worker-1\": 1 disk problem:"),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("disk \"d1\": path {path:?}")),
                "{msg}"
            );
            assert!(msg.contains("\nFix: "), "{msg}");
        }
    }
}

#[test]
fn outside_mount_fix_names_the_extra_mount() {
    let v = create(
        &[("d1", "/var/mnt/disk1/", "")],
        &Config::default(),
        &Facts::default(),
    );
    let msg = v.denial.unwrap();
    assert!(
        msg.contains("destination: /var/mnt/disk1, type: bind, source: /var/mnt/disk1, options: [bind, rshared, rw]"),
        "{msg}"
    );
    assert!(msg.contains("UserVolumeConfig"), "{msg}");
    assert!(msg.contains("allowedMounts"), "{msg}");
}

#[test]
fn several_violations_in_one_message() {
    let v = create(
        &[
            ("a", "/var/lib/longhorn", ""),
            ("b", "/var/lib/longhorn2", ""),
            ("c", "relative/path", ""),
            ("d", "/data", "filesystem"),
        ],
        &Config::default(),
        &Facts::default(),
    );
    let msg = v.denial.unwrap();
    assert!(
        msg.starts_with("Longhorn node \"worker-1\": 3 disk problems:"),
        "{msg}"
    );
    for d in ["disk \"b\"", "disk \"c\"", "disk \"d\""] {
        assert!(msg.contains(d), "{d} missing in {msg}");
    }
    assert!(!msg.contains("disk \"a\""), "{msg}");
    assert!(msg.contains("absolute path"), "{msg}");
}

#[test]
fn per_node_mounts_override_the_global_list() {
    let cfg = Config::from_yaml(
        "nodes: {worker-1: {allowedMounts: [{path: /var/mnt/longhorn}]}}",
        "t",
    )
    .unwrap();
    assert!(create(&[("d", "/var/mnt/longhorn/d", "")], &cfg, &Facts::default()).allowed());
    let v = create(&[("d", "/var/lib/longhorn", "")], &cfg, &Facts::default());
    assert!(v.denial.unwrap().contains("(/var/mnt/longhorn)"));
}

#[test]
fn block_disks_table() {
    let cfg = Config::default();
    let enough = Facts {
        hugepages: Some(Hugepages::Known(2 << 30)),
    };
    let cases = [
        ("/dev/nvme0n1", true),
        ("/dev/disk/by-id/nvme-Samsung_SSD_980", true),
        ("0000:05:00.0", true),
        ("/dev", false),
        ("/dev/../etc/passwd", false),
        ("/var/lib/longhorn/block", false),
        ("nvme0n1", false),
    ];
    for (path, allowed) in cases {
        let v = create(&[("nvme", path, "block")], &cfg, &enough);
        assert_eq!(v.allowed(), allowed, "{path:?}: {v:?}");
    }
}

#[test]
fn block_disk_needs_hugepages() {
    let cfg = Config::default();
    let req = request(
        Operation::Create,
        Some(node("worker-1", &[("nvme", "/dev/nvme0n1", "block")])),
        None,
    );
    assert_eq!(
        crate::policy::node_lookup(&req, &cfg).as_deref(),
        Some("worker-1")
    );

    let none = Facts {
        hugepages: Some(Hugepages::Known(0)),
    };
    let msg = evaluate(Phase::Validate, &req, &cfg, &none).denial.unwrap();
    assert!(msg.contains("reports no hugepages-2Mi"), "{msg}");
    assert!(msg.contains("vm.nr_hugepages: \"1024\""), "{msg}");
    assert!(
        msg.contains("nvme_tcp") && msg.contains("vfio_pci"),
        "{msg}"
    );

    let warn_cfg = Config::from_yaml("policies: {blockDisks: warn}", "t").unwrap();
    let v = evaluate(Phase::Validate, &req, &warn_cfg, &none);
    assert!(v.allowed());
    assert!(v.warnings[0].contains("hugepages-2Mi"), "{:?}", v.warnings);

    let unknown = Facts {
        hugepages: Some(Hugepages::Unknown("API server unreachable".into())),
    };
    let v = evaluate(Phase::Validate, &req, &cfg, &unknown);
    assert!(v.allowed(), "a failed look-up is reported, not guessed");
    assert!(
        v.warnings[0].contains("not verified") && v.warnings[0].contains("API server unreachable")
    );

    let off = Config::from_yaml("policies: {blockDisks: off}", "t").unwrap();
    assert_eq!(crate::policy::node_lookup(&req, &off), None);
}

#[test]
fn filesystem_disks_need_no_lookup() {
    let req = request(
        Operation::Create,
        Some(node("worker-1", &[("d", "/var/lib/longhorn", "")])),
        None,
    );
    assert_eq!(crate::policy::node_lookup(&req, &Config::default()), None);
}

#[test]
fn update_is_ratcheting() {
    let cfg = Config::default();
    let old = node("worker-1", &[("legacy", "/mnt/old", "")]);
    // Longhorn's own update (scheduling flag etc.) with the old bad disk: allowed, warned.
    let same = node("worker-1", &[("legacy", "/mnt/old", "")]);
    let v = evaluate(
        Phase::Validate,
        &request(Operation::Update, Some(same), Some(old.clone())),
        &cfg,
        &Facts::default(),
    );
    assert!(v.allowed());
    assert_eq!(v.warnings.len(), 1);
    assert!(
        v.warnings[0].contains("existing path \"/mnt/old\""),
        "{:?}",
        v.warnings
    );

    // Adding a good disk next to it: allowed.
    let added = node(
        "worker-1",
        &[("legacy", "/mnt/old", ""), ("new", "/var/lib/longhorn", "")],
    );
    assert!(
        evaluate(
            Phase::Validate,
            &request(Operation::Update, Some(added), Some(old.clone())),
            &cfg,
            &Facts::default()
        )
        .allowed()
    );

    // Adding a bad disk: denied, naming only the new one.
    let bad = node(
        "worker-1",
        &[("legacy", "/mnt/old", ""), ("new", "/mnt/new", "")],
    );
    let msg = evaluate(
        Phase::Validate,
        &request(Operation::Update, Some(bad), Some(old.clone())),
        &cfg,
        &Facts::default(),
    )
    .denial
    .unwrap();
    assert!(
        msg.contains("disk \"new\"") && !msg.contains("disk \"legacy\""),
        "{msg}"
    );

    // Changing the path of an existing disk to another bad one: denied.
    let moved = node("worker-1", &[("legacy", "/mnt/other", "")]);
    assert!(
        !evaluate(
            Phase::Validate,
            &request(Operation::Update, Some(moved), Some(old)),
            &cfg,
            &Facts::default()
        )
        .allowed()
    );
}

#[test]
fn delete_is_allowed() {
    let req = request(
        Operation::Delete,
        None,
        Some(node("worker-1", &[("d", "/bad", "")])),
    );
    assert!(evaluate(Phase::Validate, &req, &Config::default(), &Facts::default()).allowed());
}

fn setting_request(op: Operation, value: &str, old: Option<&str>) -> Request<'static> {
    let s = |v: &str| Setting {
        metadata: Meta {
            name: Some(DEFAULT_DATA_PATH_SETTING.into()),
            namespace: Some("longhorn-system".into()),
        },
        value: Some(v.to_string().into()),
    };
    Request {
        operation: op,
        name: DEFAULT_DATA_PATH_SETTING.into(),
        namespace: "longhorn-system".into(),
        username: "admin".into(),
        subject: Subject::LonghornSetting(Pair {
            object: Some(s(value)),
            old: old.map(s),
        }),
    }
}

#[test]
fn default_data_path_setting() {
    let cfg = Config::default();
    let judge = |req: Request| evaluate(Phase::Validate, &req, &cfg, &Facts::default());
    assert!(
        judge(setting_request(
            Operation::Create,
            "/var/lib/longhorn/",
            None
        ))
        .allowed()
    );
    let msg = judge(setting_request(
        Operation::Update,
        "/var/lib/longhorn2/",
        Some("/var/lib/longhorn/"),
    ))
    .denial
    .unwrap();
    assert!(
        msg.starts_with(
            "Longhorn setting \"default-data-path\": value \"/var/lib/longhorn2/\" is outside"
        ),
        "{msg}"
    );
    assert!(msg.contains("destination: /var/lib/longhorn2"), "{msg}");
    // Under /var/mnt the fix names the user volume Talos would mount there.
    let msg = judge(setting_request(Operation::Create, "/var/mnt/fast/", None))
        .denial
        .unwrap();
    assert!(
        msg.contains("a Talos UserVolumeConfig named fast (Talos mounts it at /var/mnt/fast)"),
        "{msg}"
    );
    // Unchanged bad value: ratcheted to a warning.
    let v = judge(setting_request(Operation::Update, "/data", Some("/data")));
    assert!(v.allowed() && v.warnings.len() == 1, "{v:?}");
}

#[test]
fn other_settings_are_ignored() {
    let mut req = setting_request(Operation::Create, "/nowhere", None);
    if let Subject::LonghornSetting(pair) = &mut req.subject {
        pair.object.as_mut().unwrap().metadata.name = Some("v2-data-engine".into());
    }
    assert_eq!(
        evaluate(Phase::Validate, &req, &Config::default(), &Facts::default()),
        Verdict::default()
    );
}
