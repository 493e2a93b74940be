use crate::config::Config;
use crate::host::{DeclaredVolume, Layout, VolumeType};
use crate::policy::objects::{Container, HostPathSource, Meta, Pod, PodSpec, Volume, VolumeMount};
use crate::policy::{Facts, Operation, Pair, Phase, Request, Subject, Verdict, evaluate};

/// `(volume, path, type)`; `mounts` are `(volume, subPath)`.
fn pod(ns: &str, volumes: &[(&str, &str, &str)], mounts: &[(&str, &str)]) -> Pod<'static> {
    Pod {
        metadata: Meta {
            name: Some("longhorn-manager-abcde".into()),
            namespace: Some(ns.to_string().into()),
        },
        spec: PodSpec {
            volumes: volumes
                .iter()
                .map(|(n, p, t)| Volume {
                    name: n.to_string().into(),
                    host_path: Some(HostPathSource {
                        path: p.to_string().into(),
                        path_type: (!t.is_empty()).then(|| t.to_string().into()),
                    }),
                })
                .chain([Volume {
                    name: "config".into(),
                    host_path: None,
                }])
                .collect(),
            containers: vec![Container {
                name: "longhorn-manager".into(),
                volume_mounts: mounts
                    .iter()
                    .map(|(n, sub)| VolumeMount {
                        name: n.to_string().into(),
                        mount_propagation: Some("Bidirectional".into()),
                        sub_path: (!sub.is_empty()).then(|| sub.to_string().into()),
                        sub_path_expr: None,
                    })
                    .collect(),
            }],
            ..PodSpec::default()
        },
    }
}

fn judge(p: Pod<'static>, op: Operation, cfg: &Config) -> Verdict {
    let req = Request {
        operation: op,
        name: "longhorn-manager-abcde".into(),
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        username: "system:serviceaccount:kube-system:daemon-set-controller".into(),
        subject: Subject::Pod(Pair {
            object: Some(p.clone()),
            old: (op == Operation::Update).then_some(p),
        }),
    };
    evaluate(Phase::Validate, &req, cfg, &Facts::default())
}

/// The layout of Talos's own Longhorn CI: a directory user volume, no extraMount.
fn talos_ci() -> Config {
    Config {
        host: Some(Layout {
            volumes: vec![DeclaredVolume {
                name: "longhorn".into(),
                kind: "UserVolumeConfig",
                volume_type: Some(VolumeType::Directory),
            }],
            talos_version: Some((1, 14)),
            ..Layout::default()
        }),
        ..Config::default()
    }
}

#[test]
fn longhorn_manager_like_pod_is_allowed_with_and_without_a_layout() {
    // longhorn/longhorn chart templates/daemonset-sa.yaml @ v1.12.1: untyped hostPaths,
    // /var/lib/longhorn/ Bidirectional.
    let p = pod(
        "longhorn-system",
        &[
            ("dev", "/dev/", ""),
            ("proc", "/proc/", ""),
            ("longhorn", "/var/lib/longhorn/", ""),
            ("boot", "/boot/", ""),
            ("host", "/", ""),
            (
                "csi",
                "/var/lib/kubelet/plugins/kubernetes.io/csi",
                "DirectoryOrCreate",
            ),
            ("modules", "/lib/modules", ""),
            ("log", "/var/lib/longhorn/logs", "DirectoryOrCreate"),
        ],
        &[("longhorn", ""), ("csi", "")],
    );
    for cfg in [Config::default(), talos_ci()] {
        let v = judge(p.clone(), Operation::Create, &cfg);
        assert_eq!(v, Verdict::default(), "{:?}", cfg.host);
    }
}

#[test]
fn host_paths_table() {
    // (path, type, config, denied, text in the message)
    let ci = talos_ci();
    let default = Config::default();
    let cases: [(&str, &str, &Config, bool, &str); 15] = [
        // talos: / is a read-only squashfs; containerd MkdirAll fails (containerd v2.2
        // internal/cri/opts/spec_linux_opts.go).
        (
            "/mnt/ssd",
            "",
            &default,
            true,
            "CreateContainerError (mkdir /mnt/ssd: read-only file system)",
        ),
        (
            "/home/data",
            "",
            &default,
            true,
            "read-only root filesystem",
        ),
        // What Talos ships under /etc exists (host::ROOTFS: talos Dockerfile and
        // pkg/machinery/config/types/runtime/etc_file.go @ v1.14.0-rc.1); nothing else does.
        ("/etc/iscsi", "", &default, false, ""),
        ("/etc/ssl/certs", "", &default, false, ""),
        ("/etc/os-release", "File", &default, false, ""),
        (
            "/etc/longhorn",
            "",
            &default,
            true,
            "CreateContainerError (mkdir /etc/longhorn: read-only file system)",
        ),
        (
            "/etc/longhorn",
            "DirectoryOrCreate",
            &ci,
            true,
            "(mkdir /etc/longhorn: read-only file system)",
        ),
        ("/var/lib/longhorn2", "", &default, false, ""),
        ("/run/longhorn", "", &default, false, ""),
        // kubernetes pkg/volume/hostpath/host_path.go: typed checks run in the kubelet's namespace.
        (
            "/var/lib/longhorn/x",
            "Directory",
            &ci,
            true,
            "has type Directory, which the kubelet checks",
        ),
        ("/var/lib/longhorn/x", "Directory", &default, false, ""),
        (
            "/var/lib/longhorn/x",
            "FileOrCreate",
            &ci,
            true,
            "makes a directory there instead",
        ),
        ("/var/lib/longhorn/x", "DirectoryOrCreate", &ci, false, ""),
        // kubernetes pkg/apis/core/validation/validation.go (validateHostPathVolumeSource): no
        // absolute-path check; opencontainers/runtime-spec config.md v1.3.0: a relative bind
        // source is relative to the bundle.
        (
            "relative",
            "",
            &default,
            true,
            "hostPath \"relative\" is relative; kube-apiserver accepts it",
        ),
        // Same file, validatePathNoBacksteps: refused before any webhook, in its words.
        (
            "/var/lib/longhorn/../../etc",
            "",
            &default,
            true,
            "kube-apiserver refuses this before any webhook is called: spec.volumes[0].hostPath.path: Invalid value: \"/var/lib/longhorn/../../etc\": must not contain '..'",
        ),
    ];
    for (path, t, cfg, denied, text) in cases {
        let v = judge(
            pod("longhorn-system", &[("v", path, t)], &[]),
            Operation::Create,
            cfg,
        );
        assert_eq!(!v.allowed(), denied, "{path} {t}: {v:?}");
        if denied {
            let msg = v.denial.unwrap();
            assert!(
                msg.starts_with("pod longhorn-system/longhorn-manager-abcde: "),
                "{msg}"
            );
            assert!(msg.contains(text), "{path}: {msg}");
        }
    }
}

#[test]
fn a_sub_path_the_kubelet_cannot_see_is_denied() {
    // kubernetes pkg/volume/util/subpath/subpath_linux.go: subPath binds are made by the kubelet.
    let p = pod(
        "longhorn-system",
        &[("data", "/var/lib/longhorn", "")],
        &[("data", "replicas")],
    );
    let msg = judge(p.clone(), Operation::Create, &talos_ci())
        .denial
        .unwrap();
    assert!(msg.contains("with subPath \"replicas\""), "{msg}");
    assert!(msg.contains("extraMounts"), "{msg}");
    // Unknown layout (the guide's extraMount may be there): not judged.
    assert!(judge(p, Operation::Create, &Config::default()).allowed());
}

#[test]
fn an_empty_sub_path_leaves_the_sub_path_expr() {
    // An empty subPath is Go's zero value, no subPath: the kubelet expands a
    // non-empty subPathExpr into the subPath (kubernetes pkg/kubelet/kubelet_pods.go
    // makeMounts; pkg/apis/core/validation refuses both set).
    let mut p = pod(
        "longhorn-system",
        &[("data", "/var/lib/longhorn", "")],
        &[("data", "")],
    );
    p.spec.containers[0].volume_mounts[0].sub_path = Some("".into());
    p.spec.containers[0].volume_mounts[0].sub_path_expr = Some("$(POD_NAME)".into());
    let msg = judge(p.clone(), Operation::Create, &talos_ci())
        .denial
        .unwrap();
    assert!(msg.contains("with subPath \"$(POD_NAME)\""), "{msg}");
    // Neither: nothing for the kubelet to make.
    p.spec.containers[0].volume_mounts[0].sub_path_expr = Some("".into());
    assert!(judge(p, Operation::Create, &talos_ci()).allowed());
}

#[test]
fn tmpfs_data_is_a_warning() {
    let v = judge(
        pod("longhorn-system", &[("v", "/tmp/x", "")], &[]),
        Operation::Create,
        &Config::default(),
    );
    assert!(v.allowed());
    assert_eq!(v.flagged_by, ["LTG-W031"]);
    assert!(v.warnings[0].contains("tmpfs /tmp"), "{:?}", v.warnings);
}

#[test]
fn other_namespaces_and_updates_are_untouched() {
    let cfg = Config::default();
    assert!(
        judge(
            pod("default", &[("v", "/home", "")], &[]),
            Operation::Create,
            &cfg
        )
        .allowed()
    );
    assert!(
        judge(
            pod("longhorn-system", &[("v", "/home", "")], &[]),
            Operation::Update,
            &cfg
        )
        .allowed()
    );
}

#[test]
fn warn_mode() {
    let cfg = Config::from_yaml("policies: {podHostPaths: warn}", "t").unwrap();
    let v = judge(
        pod("longhorn-system", &[("v", "/home", "")], &[]),
        Operation::Create,
        &cfg,
    );
    assert!(v.allowed());
    assert_eq!(v.warnings.len(), 1);
}

#[test]
fn vouched_paths_count_for_unbound_pods_only_on_their_node() {
    let cfg = Config::from_yaml("nodes: {w1: {allowedMounts: [{path: /srv/fast}]}}", "t").unwrap();
    assert!(
        judge(
            pod("longhorn-system", &[("v", "/srv/fast/x", "")], &[]),
            Operation::Create,
            &cfg
        )
        .allowed()
    );
    let mut bound = pod("longhorn-system", &[("v", "/srv/other", "")], &[]);
    bound.spec.node_name = Some("w1".into());
    assert!(!judge(bound, Operation::Create, &cfg).allowed());
}

#[test]
fn on_a_kubelet_config_document_the_fix_names_no_extra_mount() {
    // siderolabs/talos pkg/machinery/config/types/k8s/kubelet.go @ v1.14.0-rc.1: the
    // KubeletConfig document has no extraMounts, and .machine.kubelet next to it is refused.
    let cfg = Config {
        host: Some(Layout {
            kubelet_config_document: true,
            talos_version: Some((1, 14)),
            ..Layout::default()
        }),
        ..Config::default()
    };
    let msg = judge(
        pod(
            "longhorn-system",
            &[("v", "/var/lib/longhorn/x", "Directory")],
            &[],
        ),
        Operation::Create,
        &cfg,
    )
    .denial
    .unwrap();
    assert!(
        msg.contains("Talos 1.14's KubeletConfig has no extraMounts"),
        "{msg}"
    );
    assert!(!msg.contains("machine.kubelet.extraMounts"), "{msg}");
}

fn controller(kind: &str, volumes: &[(&str, &str, &str)]) -> crate::policy::Subject<'static> {
    use crate::policy::objects::{ControllerSpec, PodController, PodTemplate};
    let p = pod("longhorn-system", volumes, &[]);
    let c = PodController {
        metadata: Meta {
            name: Some("longhorn-manager".into()),
            namespace: Some("longhorn-system".into()),
        },
        spec: ControllerSpec {
            template: Some(PodTemplate { spec: p.spec }),
            job_template: None,
        },
    };
    let pair = Pair {
        object: Some(c),
        old: None,
    };
    match kind {
        "DaemonSet" => Subject::DaemonSet(pair),
        "Deployment" => Subject::Deployment(pair),
        _ => Subject::Job(pair),
    }
}

#[test]
fn pod_templates_of_controllers_are_judged_and_named() {
    // Kyverno's autogen idea: the template is judged so kubectl apply and helm install print
    // the denial instead of an "Error creating" event on the controller.
    for kind in ["DaemonSet", "Deployment", "Job"] {
        let req = Request {
            operation: Operation::Create,
            name: "longhorn-manager".into(),
            namespace: "longhorn-system".into(),
            username: "admin".into(),
            subject: controller(kind, &[("data", "/mnt/ssd", "")]),
        };
        let msg = evaluate(Phase::Validate, &req, &Config::default(), &Facts::default())
            .denial
            .unwrap();
        assert!(
            msg.starts_with(&format!(
                "{kind} longhorn-system/longhorn-manager (pod template): host paths that fail on Talos:\n  - volume \"data\": hostPath \"/mnt/ssd\""
            )),
            "{msg}"
        );
        let ok = Request {
            subject: controller(kind, &[("longhorn", "/var/lib/longhorn/", "")]),
            ..req
        };
        assert!(evaluate(Phase::Validate, &ok, &Config::default(), &Facts::default()).allowed());
    }
}
