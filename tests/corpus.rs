//! Longhorn's own pods are never blocked: every pod Longhorn 1.10, 1.11 and
//! 1.12 create (tests/fixtures/longhorn-pods/, written from longhorn/longhorn
//! and longhorn/longhorn-manager at v1.10.2, v1.11.3 and v1.12.1; see its
//! README), and those Longhorn 1.13 adds or changes (the global manager, the
//! CSI sidecars under their own service account), is admitted without a warning under every documented Talos layout
//! (tests/fixtures/talos-layouts/: the 1.7 guide, Longhorn's 1.10+ page,
//! Talos's own CI, a 1.14 KubeletConfig config, a new 1.14 cluster with
//! workload isolation and system volumes of their own, two user volumes) and with no
//! machine config at all, by `check` and by the webhook's pipeline alike.
//! Pods whose host path is the disk path are tried with `/var/lib/longhorn/`
//! and with the layout's `/var/mnt/longhorn/`; every hostPath is tried both
//! untyped and with `type: ""` (what the API server stores for an unset type).

mod common;

use std::path::{Path, PathBuf};

use longhorn_talos_guard::check::{self, Outcome};
use longhorn_talos_guard::cluster::NoCluster;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::Phase;
use longhorn_talos_guard::source::ConfigSource;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every pod of the corpus: (version/file, the pod).
fn pods() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    // v1.13 holds only the pods Longhorn 1.13 adds or changes (its README: the
    // v1.13.0 tag is newer than the sources read; the other pods keep 1.12's).
    for (version, at_least) in [("v1.10", 20), ("v1.11", 20), ("v1.12", 20), ("v1.13", 5)] {
        let files = yaml_files(&root().join("longhorn-pods").join(version));
        assert!(
            files.len() >= at_least,
            "{version}: {} pod files",
            files.len()
        );
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let pod: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(pod["kind"], "Pod", "{}", file.display());
            let name = format!("{version}/{}", file.file_name().unwrap().to_string_lossy());
            out.push((name, pod));
        }
    }
    out
}

/// The variants of a pod that Longhorn really creates: the disk path as
/// written and under a user volume; hostPath types unset and empty.
fn variants(pod: &Value) -> Vec<(String, Value)> {
    let mut out = vec![("as written".to_string(), pod.clone())];
    let text = pod.to_string();
    if text.contains("\"/var/lib/longhorn/\"")
        && pod["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("backing-image"))
    {
        let moved: Value =
            serde_json::from_str(&text.replace("\"/var/lib/longhorn/\"", "\"/var/mnt/longhorn/\""))
                .unwrap();
        out.push(("disk path /var/mnt/longhorn/".into(), moved));
    }
    let mut empty = pod.clone();
    if let Some(volumes) = empty["spec"]["volumes"].as_array_mut() {
        for v in volumes {
            if v["hostPath"].is_object() && v["hostPath"].get("type").is_none() {
                v["hostPath"]["type"] = json!("");
            }
        }
    }
    out.push(("type \"\"".into(), empty));
    out
}

/// The configurations: no machine config, then each documented layout.
fn configs() -> Vec<(String, Config)> {
    let mut out = vec![("no machine config".to_string(), Config::default())];
    let layouts = yaml_files(&root().join("talos-layouts"));
    assert_eq!(layouts.len(), 6, "{layouts:?}");
    for file in layouts {
        let source = ConfigSource {
            file: None,
            talos_files: vec![file.clone()],
        };
        let config = source
            .load()
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(config.host.is_some());
        out.push((
            file.file_name().unwrap().to_string_lossy().into_owned(),
            config,
        ));
    }
    out
}

fn review(pod: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "corpus",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "longhorn-system",
            "name": pod["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:daemon-set-controller"},
            "object": pod,
            "oldObject": null,
            "dryRun": false
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn every_longhorn_pod_is_admitted_on_every_talos_layout() {
    let configs = configs();
    let mut judged = 0;
    for (name, pod) in pods() {
        for (variant, pod) in variants(&pod) {
            for (layout, config) in &configs {
                let at = format!("{name} ({variant}) under {layout}");
                match check::check_object(&pod, config, "longhorn-system") {
                    Outcome::Judged {
                        denial, warnings, ..
                    } => {
                        assert_eq!(denial, None, "check denies {at}");
                        assert!(warnings.is_empty(), "check warns on {at}: {warnings:?}");
                    }
                    other => panic!("{at}: {other:?}"),
                }
                for phase in [Phase::Mutate, Phase::Validate] {
                    let done = pipeline::review(phase, &review(&pod), config, &NoCluster)
                        .await
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(
                        done.decision.as_str(),
                        "allowed",
                        "webhook {phase:?} on {at}: {:?}",
                        done.verdict
                    );
                }
                judged += 1;
            }
        }
    }
    // (3 versions x 22 pods + 5 pods of 1.13) x (2 or 3 variants) x 6 configurations.
    assert!(judged >= (3 * 22 + 5) * 2 * 6, "{judged} cases");
}

/// The pod as the template of a controller of `kind` (what Longhorn's chart
/// and manager ship as DaemonSets and Deployments).
fn as_template(kind: &str, pod: &Value) -> Value {
    let (api_version, spec) = match kind {
        "CronJob" => (
            "batch/v1",
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod["spec"]}}}}),
        ),
        "Job" => ("batch/v1", json!({"template": {"spec": pod["spec"]}})),
        _ => (
            "apps/v1",
            json!({"selector": {}, "template": {"spec": pod["spec"]}}),
        ),
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": pod["metadata"]["name"], "namespace": "longhorn-system"},
        "spec": spec
    })
}

#[test]
fn every_longhorn_pod_template_is_admitted_on_every_talos_layout() {
    let configs = configs();
    for (name, pod) in pods() {
        for kind in ["DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob"] {
            let controller = as_template(kind, &pod);
            for (layout, config) in &configs {
                match check::check_object(&controller, config, "longhorn-system") {
                    Outcome::Judged {
                        denial, warnings, ..
                    } => {
                        assert_eq!(denial, None, "{kind} of {name} under {layout}");
                        assert!(
                            warnings.is_empty(),
                            "{kind} of {name} under {layout}: {warnings:?}"
                        );
                    }
                    other => panic!("{kind} of {name} under {layout}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn the_corpus_holds_the_host_paths_longhorn_hard_codes() {
    // FACTS "Where data lands on a Talos node": Longhorn 1.10 to 1.12 mount these whatever
    // default-data-path is (longhorn-manager types/types.go, controller/instance_manager_controller.go).
    let text: String = pods().iter().map(|(_, p)| p.to_string()).collect();
    for path in [
        "\"/var/lib/longhorn/\"",
        "\"/var/lib/longhorn/engine-binaries/\"",
        "\"/var/lib/longhorn/unix-domain-socket/\"",
        "\"/var/lib/longhorn/logs\"",
        "\"/var/lib/longhorn/metadata/\"",
        "\"/var/lib/kubelet/pods\"",
    ] {
        assert!(text.contains(path), "no pod mounts {path}");
    }
}
