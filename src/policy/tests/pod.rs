use crate::config::Config;
use crate::policy::objects::Pod;
use crate::policy::objects::{Container, HostPathSource, Meta, PodSpec, Volume, VolumeMount};
use crate::policy::{Facts, Phase, Subject, evaluate};
use crate::policy::{Operation, Pair, Request};

fn pod(ns: &str, volumes: &[(&str, &str)], bidirectional: &[&str]) -> Pod<'static> {
    Pod {
        metadata: Meta {
            name: Some("longhorn-manager-abcde".into()),
            namespace: Some(ns.to_string().into()),
        },
        spec: PodSpec {
            volumes: volumes
                .iter()
                .map(|(n, p)| Volume {
                    name: n.to_string().into(),
                    host_path: Some(HostPathSource {
                        path: p.to_string().into(),
                    }),
                })
                .chain([Volume {
                    name: "config".into(),
                    host_path: None,
                }])
                .collect(),
            containers: vec![Container {
                name: "longhorn-manager".into(),
                volume_mounts: bidirectional
                    .iter()
                    .map(|n| VolumeMount {
                        name: n.to_string().into(),
                        mount_propagation: Some("Bidirectional".into()),
                    })
                    .collect(),
            }],
            ..PodSpec::default()
        },
    }
}

fn judge(p: Pod<'static>, op: Operation, cfg: &Config) -> crate::policy::Verdict {
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

#[test]
fn longhorn_manager_like_pod_is_allowed() {
    let p = pod(
        "longhorn-system",
        &[
            ("dev", "/dev/"),
            ("proc", "/proc/"),
            ("longhorn", "/var/lib/longhorn/"),
            ("boot", "/boot/"),
            ("host", "/"),
            ("csi", "/var/lib/kubelet/plugins/kubernetes.io/csi"),
            ("modules", "/lib/modules"),
        ],
        &["longhorn", "csi"],
    );
    let v = judge(p, Operation::Create, &Config::default());
    assert!(v.allowed(), "{v:?}");
}

#[test]
fn host_paths_table() {
    let cfg = Config::default();
    let cases = [
        ("/var/lib/longhorn/engine-binaries", true),
        ("/var/lib/longhorn2", false),
        ("/home/data", false),
        ("/var", false),
        ("/devices", false),
        ("/dev/../root", false),
        ("relative", false),
        ("/run/longhorn", true),
    ];
    for (path, allowed) in cases {
        let v = judge(
            pod("longhorn-system", &[("v", path)], &[]),
            Operation::Create,
            &cfg,
        );
        assert_eq!(v.allowed(), allowed, "{path}: {v:?}");
        if !allowed {
            let msg = v.denial.unwrap();
            assert!(
                msg.starts_with("pod longhorn-system/longhorn-manager-abcde: "),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("volume \"v\": hostPath {path:?}")),
                "{msg}"
            );
        }
    }
}

#[test]
fn bidirectional_needs_rshared() {
    let cfg = Config::from_yaml(
        "allowedMounts: [{path: /var/mnt/longhorn, propagation: rslave}]",
        "t",
    )
    .unwrap();
    let v = judge(
        pod(
            "longhorn-system",
            &[("data", "/var/mnt/longhorn")],
            &["data"],
        ),
        Operation::Create,
        &cfg,
    );
    let msg = v.denial.unwrap();
    assert!(
        msg.contains("container \"longhorn-manager\" mounts volume \"data\""),
        "{msg}"
    );
    assert!(msg.contains("is rslave"), "{msg}");
    // Same mount without Bidirectional: fine.
    assert!(
        judge(
            pod("longhorn-system", &[("data", "/var/mnt/longhorn")], &[]),
            Operation::Create,
            &cfg
        )
        .allowed()
    );
}

#[test]
fn other_namespaces_and_updates_are_untouched() {
    let cfg = Config::default();
    assert!(
        judge(
            pod("default", &[("v", "/home")], &[]),
            Operation::Create,
            &cfg
        )
        .allowed()
    );
    assert!(
        judge(
            pod("longhorn-system", &[("v", "/home")], &[]),
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
        pod("longhorn-system", &[("v", "/home")], &[]),
        Operation::Create,
        &cfg,
    );
    assert!(v.allowed());
    assert_eq!(v.warnings.len(), 1);
}

#[test]
fn per_node_mounts_count_for_unbound_pods() {
    let cfg =
        Config::from_yaml("nodes: {w1: {allowedMounts: [{path: /var/mnt/fast}]}}", "t").unwrap();
    assert!(
        judge(
            pod("longhorn-system", &[("v", "/var/mnt/fast/x")], &[]),
            Operation::Create,
            &cfg
        )
        .allowed()
    );
    let mut bound = pod("longhorn-system", &[("v", "/var/lib/longhorn")], &[]);
    bound.spec.node_name = Some("w1".into());
    assert!(!judge(bound, Operation::Create, &cfg).allowed());
}
