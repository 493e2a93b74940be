//! Host path volumes of pods in the Longhorn namespace: each must be inside an
//! allowed mount or a system path Longhorn's own pods use, and a Bidirectional
//! mount needs an rshared allowed mount.

use std::borrow::Cow;

use super::disk::containing_mount;
use super::messages::{self, PathProblem};
use super::objects::Pod;
use super::paths::HostPath;
use super::{Findings, Operation, Pair, Request, Verdict};
use crate::config::{AllowedMount, Config, Mode, Propagation};

/// Host paths (and everything below them) that Longhorn's manager,
/// instance-manager and CSI pods mount and that Talos provides to the kubelet.
pub const SYSTEM_PATHS: [&str; 8] = [
    "/dev",
    "/proc",
    "/sys",
    "/boot",
    "/etc",
    "/lib/modules",
    "/run",
    "/var/lib/kubelet",
];

fn is_system_path(path: &HostPath) -> bool {
    // instance-manager mounts the whole host at /host: `/` exactly is allowed.
    path.is_root() || SYSTEM_PATHS.iter().any(|s| path.is_within_normalised(s))
}

/// The mounts a pod may use: its node's when it is bound to one that has its
/// own list, else the global list and every node's list (a DaemonSet pod may
/// land on any node).
fn pod_mounts<'c>(pod: &Pod, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
    if let Some(node) = pod.spec.node_name.as_deref()
        && cfg.node_allowed_mounts.contains_key(node)
    {
        return Cow::Borrowed(cfg.mounts_for_node(node));
    }
    if cfg.node_allowed_mounts.is_empty() {
        return Cow::Borrowed(&cfg.allowed_mounts);
    }
    let mut all = cfg.allowed_mounts.clone();
    for list in cfg.node_allowed_mounts.values() {
        for m in list {
            if !all.contains(m) {
                all.push(m.clone());
            }
        }
    }
    Cow::Owned(all)
}

/// Judges the host path volumes of a pod created in the Longhorn namespace.
pub(crate) fn validate(
    req: &Request<'_>,
    pair: &Pair<Pod<'_>>,
    cfg: &Config,
    verdict: &mut Verdict,
) {
    let mode = cfg.policies.pod_host_paths;
    // Volumes are immutable after creation, so only CREATE is judged.
    if mode == Mode::Off || req.operation != Operation::Create {
        return;
    }
    let Some(pod) = &pair.object else {
        return;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or(&req.namespace);
    if ns != cfg.longhorn_namespace {
        return;
    }
    let name = pod.metadata.name.as_deref().unwrap_or(&req.name);
    let name = if name.is_empty() {
        "(generated name)"
    } else {
        name
    };
    let mounts = pod_mounts(pod, cfg);

    let mut findings = Findings::default();
    let mut example = None;
    for volume in &pod.spec.volumes {
        let Some(host) = &volume.host_path else {
            continue;
        };
        let problem = match HostPath::parse(&host.path) {
            Err(e) => Some(PathProblem::Invalid(e.to_string())),
            Ok(p) if is_system_path(&p) => None,
            Ok(p) => match containing_mount(&p, &mounts) {
                None => {
                    example.get_or_insert_with(|| p.to_string());
                    Some(PathProblem::Outside(messages::mount_list(&mounts)))
                }
                Some(mount) => {
                    bidirectional_problems(
                        pod,
                        &volume.name,
                        &host.path,
                        mount,
                        &mut findings,
                        ns,
                        name,
                    );
                    None
                }
            },
        };
        if let Some(problem) = problem {
            findings.violations.push(messages::pod_volume_item(
                &volume.name,
                &host.path,
                &problem,
            ));
            findings
                .short
                .push(messages::pod_short(ns, name, &volume.name));
        }
    }
    let example = example.unwrap_or_else(|| "/var/lib/longhorn".to_string());
    findings.apply(mode, verdict, |items| {
        messages::pod_denial(ns, name, items, &example)
    });
}

fn bidirectional_problems(
    pod: &Pod,
    volume: &str,
    path: &str,
    mount: &AllowedMount,
    findings: &mut Findings,
    ns: &str,
    name: &str,
) {
    if mount.propagation == Propagation::Rshared {
        return;
    }
    for container in pod.spec.all_containers() {
        let bidirectional = container
            .volume_mounts
            .iter()
            .any(|m| m.name == volume && m.mount_propagation.as_deref() == Some("Bidirectional"));
        if bidirectional {
            findings.violations.push(messages::pod_propagation_item(
                &container.name,
                volume,
                path,
                mount,
            ));
            findings.short.push(messages::pod_short(ns, name, volume));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::objects::{Container, HostPathSource, Meta, PodSpec, Volume, VolumeMount};
    use crate::policy::{Facts, Phase, Subject, evaluate};

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
        let cfg = Config::from_yaml("nodes: {w1: {allowedMounts: [{path: /var/mnt/fast}]}}", "t")
            .unwrap();
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
}
