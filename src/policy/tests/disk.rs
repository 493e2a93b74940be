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
    // (path, denied, fragment); "" = allowed. Facts: ../shared/FACTS.md "Where data lands on a
    // Talos node" (talos internal/app/machined/pkg/system/services/kubelet.go, longhorn-manager
    // controller/node_controller.go: NoDiskInfo when longhorn-disk.cfg cannot be created).
    let cases = [
        ("/var/lib/longhorn", false, ""),
        ("/var/lib/longhorn/", false, ""),
        ("/var/lib/longhorn/disk-2", false, ""),
        ("/var/lib/longhorn/./x/../y", false, ""),
        ("/var/mnt/longhorn", false, ""),
        ("/var/lib/longhorn/../../../", true, "is / (the whole host)"),
        ("/", true, "is / (the whole host)"),
        ("var/lib/longhorn", true, "the path is relative"),
        ("", true, "the path is empty"),
        (
            "/mnt/disk1",
            true,
            "read-only root filesystem: Longhorn cannot create longhorn-disk.cfg",
        ),
        ("/mnt/ssd", true, "never becomes Ready"),
        (
            "/run/longhorn",
            true,
            "tmpfs /run: everything Longhorn writes there is gone at the next reboot",
        ),
        ("/tmp/x", true, "tmpfs /tmp"),
        ("/dev/sdb", true, "diskType: block"),
        ("/proc/x", true, "kernel filesystem"),
    ];
    for (path, denied, fragment) in cases {
        let v = create(&[("d1", path, "")], &cfg, &Facts::default());
        assert_eq!(!v.allowed(), denied, "{path:?}: {v:?}");
        if denied {
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
            assert!(!msg.contains("extraMounts"), "never an extraMount: {msg}");
        } else {
            assert!(v.warnings.is_empty(), "{path}: {:?}", v.warnings);
        }
    }
}

#[test]
fn ephemeral_paths_warn_by_default_and_deny_when_asked() {
    let cfg = Config::default();
    for path in [
        "/var/lib/longhorn2",
        "/opt/longhorn",
        "/var/lib/longhorn/../etc",
    ] {
        let v = create(&[("d1", path, "")], &cfg, &Facts::default());
        assert!(v.allowed(), "{path}: {v:?}");
        assert_eq!(v.flagged_by, ["LTG-W013"], "{path}");
        assert!(
            v.warnings[0].contains("is on EPHEMERAL"),
            "{:?}",
            v.warnings
        );
    }
    let strict = Config::from_yaml("policies: {LTG-W013: enforce}", "t").unwrap();
    let msg = create(&[("d1", "/opt/longhorn", "")], &strict, &Facts::default())
        .denial
        .unwrap();
    assert!(msg.contains("1 disk on the EPHEMERAL partition"), "{msg}");
    assert!(msg.contains("wiped by talosctl reset"), "{msg}");
    // A group entry does not touch a rule that warns by default.
    let group = Config::from_yaml("policies: {diskPaths: enforce}", "t").unwrap();
    assert!(create(&[("d1", "/opt/longhorn", "")], &group, &Facts::default()).allowed());
}

#[test]
fn a_known_layout_tells_volumes_from_plain_folders() {
    use crate::host::{DeclaredVolume, Layout, VolumeType};
    let cfg = Config {
        host: Some(Layout {
            volumes: vec![
                DeclaredVolume {
                    name: "longhorn".into(),
                    kind: "UserVolumeConfig",
                    volume_type: Some(VolumeType::Partition),
                },
                DeclaredVolume {
                    name: "scratch".into(),
                    kind: "UserVolumeConfig",
                    volume_type: Some(VolumeType::Directory),
                },
            ],
            talos_version: Some((1, 12)),
            ..Layout::default()
        }),
        ..Config::default()
    };
    assert_eq!(
        create(&[("d", "/var/mnt/longhorn/d", "")], &cfg, &Facts::default()),
        Verdict::default()
    );
    let v = create(&[("d", "/var/mnt/fast", "")], &cfg, &Facts::default());
    assert!(v.allowed() && v.flagged_by == ["LTG-W013"], "{v:?}");
    let v = create(&[("d", "/var/mnt/scratch", "")], &cfg, &Facts::default());
    assert!(v.allowed() && v.flagged_by == ["LTG-W013"], "{v:?}");
    // Without a machine config, /var/mnt/<name> is taken for a user volume.
    assert_eq!(
        create(
            &[("d", "/var/mnt/fast", "")],
            &Config::default(),
            &Facts::default()
        ),
        Verdict::default()
    );
}

#[test]
fn the_fix_is_a_user_volume_or_var_lib_longhorn() {
    let v = create(
        &[("d1", "/mnt/ssd", "")],
        &Config::default(),
        &Facts::default(),
    );
    let msg = v.denial.unwrap();
    assert!(msg.contains("UserVolumeConfig, name: ssd"), "{msg}");
    assert!(msg.contains("use /var/mnt/ssd as the disk path"), "{msg}");
    assert!(msg.contains("Or keep it under /var/lib/longhorn"), "{msg}");
    // Talos before 1.10 has no user volumes.
    let old = Config {
        host: Some(crate::host::Layout {
            talos_version: Some((1, 7)),
            ..Default::default()
        }),
        ..Config::default()
    };
    let msg = create(&[("d1", "/mnt/ssd", "")], &old, &Facts::default())
        .denial
        .unwrap();
    assert!(msg.contains("Talos 1.7 has no user volumes"), "{msg}");
}

#[test]
fn several_violations_in_one_message() {
    let v = create(
        &[
            ("a", "/var/lib/longhorn", ""),
            ("b", "/run/longhorn", ""),
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
fn vouched_per_node_paths_are_allowed_on_that_node() {
    let cfg = Config::from_yaml(
        "nodes: {worker-1: {allowedMounts: [{path: /srv/longhorn}]}}",
        "t",
    )
    .unwrap();
    assert!(create(&[("d", "/srv/longhorn/d", "")], &cfg, &Facts::default()).allowed());
    assert!(!create(&[("d", "/srv/other", "")], &cfg, &Facts::default()).allowed());
}

#[test]
fn block_disks_table() {
    let cfg = Config::default();
    let enough = Facts {
        hugepages: Some(Hugepages::Known(2 << 30)),
        ..Facts::default()
    };
    let cases = [
        ("/dev/nvme0n1", true),
        ("/dev/disk/by-id/nvme-Samsung_SSD_980", true),
        ("0000:05:00.0", true),
        ("/dev", false),
        ("/dev/../etc/passwd", false),
        ("/var/lib/longhorn/block", false),
        ("nvme0n1", false),
        ("/dev/mapper/vg0-longhorn", true),
        ("/dev/disk/by-partlabel/r-longhorn", true),
        // talos internal/pkg/mount/v3/helpers.go @ v1.14.0-rc.1 (PseudoSub): /dev/shm is a
        // tmpfs, /dev/pts a devpts, /dev/hugepages a hugetlbfs: files, not devices.
        ("/dev/shm", false),
        ("/dev/shm/longhorn.img", false),
        ("/dev/pts/0", false),
        ("/dev/hugepages/disk", false),
    ];
    for (path, allowed) in cases {
        let v = create(&[("nvme", path, "block")], &cfg, &enough);
        assert_eq!(v.allowed(), allowed, "{path:?}: {v:?}");
    }
    let msg = create(&[("nvme", "/dev/shm/longhorn.img", "block")], &cfg, &enough)
        .denial
        .unwrap();
    assert!(
        msg.contains("- disk \"nvme\": path \"/dev/shm/longhorn.img\" is a block disk path inside /dev/shm, where Talos mounts a tmpfs filesystem: what is there is a file, not a block device"),
        "{msg}"
    );
    assert!(msg.contains("Fix: Give a block disk its device"), "{msg}");
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
        ..Facts::default()
    };
    let msg = evaluate(Phase::Validate, &req, &cfg, &none).denial.unwrap();
    assert!(msg.contains("reports no hugepages-2Mi"), "{msg}");
    assert!(msg.contains("vm.nr_hugepages: \"1024\""), "{msg}");
    // siderolabs/pkgs kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y (built in).
    assert!(
        msg.contains("machine.kernel.modules: [{name: vfio_pci}]") && !msg.contains("nvme_tcp"),
        "{msg}"
    );

    let warn_cfg = Config::from_yaml("policies: {blockDisks: warn}", "t").unwrap();
    let v = evaluate(Phase::Validate, &req, &warn_cfg, &none);
    assert!(v.allowed());
    assert!(v.warnings[0].contains("hugepages-2Mi"), "{:?}", v.warnings);

    let unknown = Facts {
        hugepages: Some(Hugepages::Unknown("API server unreachable".into())),
        ..Facts::default()
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
        "/mnt/ssd/",
        Some("/var/lib/longhorn/"),
    ))
    .denial
    .unwrap();
    assert!(
        msg.starts_with(
            "Longhorn setting \"default-data-path\": value \"/mnt/ssd/\" is on Talos's read-only root"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("then set default-data-path to /var/mnt/ssd"),
        "{msg}"
    );
    // A folder on EPHEMERAL: a warning.
    let v = judge(setting_request(
        Operation::Create,
        "/var/lib/longhorn2/",
        None,
    ));
    assert!(v.allowed() && v.flagged_by == ["LTG-W013"], "{v:?}");
    // Unchanged bad value: ratcheted to a warning.
    let v = judge(setting_request(Operation::Update, "/data", Some("/data")));
    assert!(v.allowed() && v.warnings.len() == 1, "{v:?}");
}

#[test]
fn other_settings_are_ignored() {
    let mut req = setting_request(Operation::Create, "/nowhere", None);
    req.name = "v2-data-engine".into();
    if let Subject::LonghornSetting(pair) = &mut req.subject {
        pair.object.as_mut().unwrap().metadata.name = Some("v2-data-engine".into());
    }
    assert_eq!(
        evaluate(Phase::Validate, &req, &Config::default(), &Facts::default()),
        Verdict::default()
    );
}

#[test]
fn a_default_control_path_setting_only_warns_that_longhorn_has_none() {
    // longhorn-manager webhook/resources/setting/validator.go @ v1.12.1: a Setting whose name
    // is not defined is refused ("setting %s does not exist"); default-control-path was reverted
    // before v1.13.0 (longhorn-manager#5127, longhorn/longhorn#13843): never a path verdict.
    for value in ["/mnt/control", "/var/mnt/control", "/run/x"] {
        let mut req = setting_request(Operation::Create, value, None);
        req.name = "default-control-path".into();
        if let Subject::LonghornSetting(pair) = &mut req.subject {
            pair.object.as_mut().unwrap().metadata.name = Some("default-control-path".into());
        }
        let v = evaluate(Phase::Validate, &req, &Config::default(), &Facts::default());
        assert!(v.allowed(), "{value}: {v:?}");
        assert_eq!(
            v.warnings,
            [
                "Longhorn 1.10-1.13 has no setting default-control-path; engine binaries, sockets, logs stay in /var/lib/longhorn"
            ]
        );
    }
}

#[test]
fn an_unknown_disk_type_is_a_warning_that_names_it() {
    // longhorn-manager k8s/pkg/apis/longhorn/v1beta2/node.go (v1.10.0 to
    // v1.12.1): diskType Enum=filesystem;block. A later Longhorn may add a
    // type: its own Node objects must never be denied, and a path judged as
    // a filesystem disk would be the wrong verdict.
    let cfg = Config::default();
    for path in ["/dev/nvme0n1", "/", "spdk://x"] {
        let v = create(&[("fast", path, "nvme-of")], &cfg, &Facts::default());
        assert!(v.allowed(), "{path}: {v:?}");
        assert_eq!(
            v.warnings,
            [
                "node worker-1 disk fast: diskType \"nvme-of\" is not filesystem or block; its path was not checked"
            ],
            "{path}"
        );
    }
    // Case matters, as in Longhorn's comparison and the CRD's enum.
    let v = create(&[("b", "/dev/sdb", "Block")], &cfg, &Facts::default());
    assert!(v.allowed() && v.warnings[0].contains("\"Block\""), "{v:?}");
    // "filesystem" and empty are the same type: no change, nothing judged anew.
    let old = node("worker-1", &[("d", "/", "")]);
    let new = node("worker-1", &[("d", "/", "filesystem")]);
    let req = request(Operation::Update, Some(new), Some(old));
    let v = evaluate(Phase::Validate, &req, &cfg, &Facts::default());
    assert!(v.allowed(), "{v:?}");
}
