//! `audit` without a cluster: each translation of Longhorn's status on the
//! fixtures of tests/fixtures/audit (written from longhorn-manager v1.12.1,
//! see its README), healthy nodes giving nothing, the registry's rules on
//! existing objects with the webhook's own text, and the PolicyReports.
//! Full message texts are insta snapshots (tests/snapshots/audit__*.snap).

use std::path::Path;

use longhorn_talos_guard::audit::{self, Inventory, Outcome, Severity, report, status};
use longhorn_talos_guard::base::Level;
use longhorn_talos_guard::check;
use longhorn_talos_guard::config::Config;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn translate(name: &str) -> Vec<audit::Finding> {
    status::translate(&fixture(name), &Config::default())
}

/// The one finding of a fixture, checked for its ID, result and severity.
fn only(name: &str, policy: &str, result: Outcome, severity: Severity) -> audit::Finding {
    let found = translate(name);
    assert_eq!(
        found.iter().map(|f| f.policy).collect::<Vec<_>>(),
        vec![policy],
        "{name}: {found:#?}"
    );
    let f = found.into_iter().next().unwrap();
    assert_eq!((f.result, f.severity), (result, severity), "{name}");
    assert_eq!(f.object.kind, "Node");
    assert_eq!(f.object.api_version, "longhorn.io/v1beta2");
    f
}

#[test]
fn healthy_nodes_give_nothing() {
    // Every condition True, a disk on a user volume (FACTS.md "Where data lands":
    // /var/mnt/<name> is its own filesystem): neither the translations nor the rules find anything.
    assert_eq!(translate("healthy.yaml"), vec![]);
    let inventory = Inventory {
        longhorn_nodes: vec![fixture("healthy.yaml")],
        ..Inventory::default()
    };
    assert_eq!(audit::audit(&inventory, &Config::default()), vec![]);
}

#[test]
fn a_wiped_disk_gets_the_recovery_commands_and_the_replica_warning() {
    // longhorn-manager v1.12.1 controller/node_controller.go: Ready=False,
    // DiskFilesystemChanged, "record diskUUID doesn't match the one on the disk";
    // webhook/resources/node/validator.go: a disk is removed only with scheduling
    // off and storageScheduled 0. Recovery: Longhorn's Talos guide (FACTS.md).
    let f = only(
        "wiped.yaml",
        status::DISK_WIPED,
        Outcome::Fail,
        Severity::High,
    );
    assert!(
        f.message.contains("2 replicas are still scheduled"),
        "{}",
        f.message
    );
    let commands: Vec<&str> = f
        .message
        .lines()
        .filter_map(|l| l.trim_start().split_once(". kubectl ").map(|(_, c)| c))
        .collect();
    assert_eq!(commands.len(), 3, "{}", f.message);
    // Each patch is valid JSON and does what its step says.
    let patch = |cmd: &str| -> Value {
        let quoted = cmd.rsplit_once(" -p '").unwrap().1.trim_end_matches('\'');
        serde_json::from_str(quoted).unwrap()
    };
    assert_eq!(
        patch(commands[0]),
        json!({"spec": {"disks": {"default-disk-fd0100000000": {"allowScheduling": false}}}})
    );
    assert_eq!(
        patch(commands[1]),
        json!([{"op": "remove", "path": "/spec/disks/default-disk-fd0100000000"}])
    );
    let added = &patch(commands[2])["spec"]["disks"]["default-disk-fd0100000000-recovered"];
    assert_eq!(added["path"], "/var/lib/longhorn/");
    assert_eq!(added["storageReserved"], 32212254720_i64);
    assert_eq!(added["tags"], json!(["ssd"]));
    assert_eq!(added["allowScheduling"], true);
    insta::assert_snapshot!("wiped", f.message);
}

#[test]
fn a_disk_whose_config_file_is_gone_points_at_the_user_volume_first() {
    // node_controller.go v1.12.1: DiskFilesystemChanged, "cannot find disk config
    // file, maybe due to a mount error"; FACTS.md: /var/mnt/<name> is a user volume.
    let f = only(
        "volume-unmounted.yaml",
        status::DISK_CONFIG_MISSING,
        Outcome::Fail,
        Severity::High,
    );
    assert!(f.message.contains("user volume"), "{}", f.message);
    assert!(
        f.message
            .contains("Only if the volume was re-created empty"),
        "{}",
        f.message
    );
    assert_eq!(
        f.message
            .matches(". kubectl -n longhorn-system patch")
            .count(),
        3
    );
    insta::assert_snapshot!("volume-unmounted", f.message);
}

#[test]
fn a_missing_config_file_elsewhere_is_a_wipe_or_a_tmpfs() {
    // The same condition on /var/lib/longhorn (EPHEMERAL: emptied by a reset) and
    // on /tmp (a tmpfs: emptied at every boot; FACTS.md "Where data lands").
    for (path, expected, steps) in [
        (
            "/var/lib/longhorn/",
            "The folder was emptied (a talosctl reset",
            3,
        ),
        (
            "/tmp/longhorn",
            "is on the tmpfs /tmp, emptied at every boot: the data is gone",
            2,
        ),
    ] {
        let mut node = fixture("volume-unmounted.yaml");
        node["spec"]["disks"]["longhorn"]["path"] = json!(path);
        let found = status::translate(&node, &Config::default());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].policy, status::DISK_CONFIG_MISSING);
        assert!(found[0].message.contains(expected), "{}", found[0].message);
        assert_eq!(
            found[0]
                .message
                .matches(". kubectl -n longhorn-system patch")
                .count(),
            steps,
            "{}",
            found[0].message
        );
    }
}

#[test]
fn a_disk_on_the_read_only_root_or_a_tmpfs() {
    // disk_monitor.go: NoDiskInfo when the disk config cannot be read or made;
    // FACTS.md: / is a read-only squashfs, /tmp a tmpfs emptied at every boot.
    let ro = only(
        "readonly.yaml",
        status::DISK_UNWRITABLE,
        Outcome::Fail,
        Severity::High,
    );
    assert!(ro.message.contains("read-only root"), "{}", ro.message);
    insta::assert_snapshot!("readonly", ro.message);
    let tmp = only(
        "tmpfs.yaml",
        status::DISK_UNWRITABLE,
        Outcome::Fail,
        Severity::High,
    );
    assert!(tmp.message.contains("tmpfs /tmp"), "{}", tmp.message);
    insta::assert_snapshot!("tmpfs", tmp.message);
}

#[test]
fn disks_that_are_on_ephemeral() {
    // node_controller.go: "disk has same file system ID <id> as other disks [..]";
    // siderolabs/talos#13069: a /var/mnt/<x> without a volume shows EPHEMERAL's capacity.
    let shared = only(
        "shared-fsid.yaml",
        status::DISK_EPHEMERAL,
        Outcome::Fail,
        Severity::Medium,
    );
    assert!(
        shared
            .message
            .contains("/var/mnt/longhorn is a folder on EPHEMERAL"),
        "{}",
        shared.message
    );
    insta::assert_snapshot!("shared-fsid", shared.message);
    let twin = only(
        "same-capacity.yaml",
        status::DISK_EPHEMERAL,
        Outcome::Warn,
        Severity::Medium,
    );
    assert!(
        twin.message.contains("storageMaximum 50Gi"),
        "{}",
        twin.message
    );
    insta::assert_snapshot!("same-capacity", twin.message);
}

#[test]
fn node_conditions_get_the_talos_snippet() {
    // Every condition type, reason and message shape translated here is the same in
    // longhorn-manager v1.12.1 and on its master of 2026-08-21 (controller/monitor/
    // environment_check_monitor.go, disk_monitor.go, node_controller.go, v1beta2/node.go: no
    // change; the newest read, as the v1.13.0 tag is not in the snapshot, base::upstream::READ).
    // environment_check_monitor.go v1.12.1: on Talos only iscsiadm is probed
    // ("Missing packages: [iscsiadm]"); FACTS.md: iscsi-tools from an Image Factory schematic.
    let iscsi = only(
        "iscsi.yaml",
        status::ISCSI_TOOLS,
        Outcome::Fail,
        Severity::High,
    );
    assert!(iscsi.message.contains("- siderolabs/iscsi-tools"));
    // siderolabs/extensions storage/iscsi-tools vars.yaml + pkg.yaml, v1.13.7 to v1.14.0-rc.1
    // (base::upstream::ISCSI_TOOLS, the table LTG-T003 reads too): only unpatched 2.1.12 breaks.
    assert!(
        iscsi
            .message
            .contains("Avoid the installers of Talos 1.13.8, 1.14.0-beta.0 and 1.14.0-beta.1,"),
        "{}",
        iscsi.message
    );
    insta::assert_snapshot!("iscsi", iscsi.message);
    // "Kernel modules [..] are not loaded"; FACTS.md: machine.kernel.modules, or
    // KernelModuleConfig documents on Talos 1.14.
    let modules = only(
        "kernel-modules.yaml",
        status::KERNEL_MODULES,
        Outcome::Fail,
        Severity::High,
    );
    // siderolabs/pkgs kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y (built in, never
    // missing); longhorn-manager environment_check_monitor.go v1.12.1 checkKernelModuleEnabled
    // counts "y" as loaded: a report naming nvme_tcp is a misreading, and no fix asks for it.
    assert!(
        !modules.message.contains("name: nvme_tcp"),
        "{}",
        modules.message
    );
    assert!(modules.message.contains("      - name: vfio_pci\n"));
    assert!(
        modules
            .message
            .contains("kind: KernelModuleConfig\n    name: vfio_pci")
    );
    insta::assert_snapshot!("kernel-modules", modules.message);
    // "Insufficient HugePages (2Mi): Required 2Gi, Capacity 1Gi"; Talos guide: vm.nr_hugepages 1024.
    let pages = only(
        "hugepages.yaml",
        status::HUGEPAGES,
        Outcome::Fail,
        Severity::High,
    );
    assert!(
        pages.message.contains("vm.nr_hugepages: \"1024\""),
        "{}",
        pages.message
    );
    insta::assert_snapshot!("hugepages", pages.message);
    // Multipathd=False, MultipathdIsRunning; FACTS.md: blacklist devnode "^sd[a-z0-9]+".
    let mp = only(
        "multipathd.yaml",
        status::MULTIPATHD,
        Outcome::Fail,
        Severity::High,
    );
    assert!(mp.message.contains(r#"devnode "^sd[a-z0-9]+""#));
    insta::assert_snapshot!("multipathd", mp.message);
    // node_controller.go syncNodeStatus: NoMountPropagationSupport.
    let prop = only(
        "mount-propagation.yaml",
        status::MOUNT_PROPAGATION,
        Outcome::Fail,
        Severity::High,
    );
    assert!(prop.message.contains("Bidirectional"));
    insta::assert_snapshot!("mount-propagation", prop.message);
}

#[test]
fn kernel_module_names_from_go_slices_and_maps() {
    // environment_check_monitor.go formats []string and map[string]string with %v.
    assert_eq!(
        status::bracketed_names("Kernel modules [nvme_tcp vfio_pci] are not loaded"),
        ["nvme_tcp", "vfio_pci"]
    );
    assert_eq!(
        status::bracketed_names(
            "Failed to check kernel config file for kernel modules map[CONFIG_DM_CRYPT:dm_crypt]: no file"
        ),
        ["dm_crypt"]
    );
    assert!(status::bracketed_names("no list").is_empty());
}

fn baseline_namespace() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "longhorn-system", "uid": "ns-1",
                     "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}
    })
}

#[test]
fn existing_objects_get_the_webhooks_own_denial() {
    // The namespace created while the guard was down: the validating webhook's
    // text, as `check` (the same pipeline as the webhook) prints it.
    let cfg = Config::default();
    let ns = baseline_namespace();
    let found = audit::audit(
        &Inventory {
            namespace: Some(ns.clone()),
            ..Inventory::default()
        },
        &cfg,
    );
    let denial = match check::check_object(&ns, &cfg, "default") {
        check::Outcome::Judged {
            denial: Some(d), ..
        } => d,
        other => panic!("check allows the baseline namespace: {other:?}"),
    };
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].policy, "LTG-W002");
    assert_eq!(found[0].result, Outcome::Fail);
    assert_eq!(found[0].message, denial);
    assert_eq!(found[0].object.namespace, None);
}

#[test]
fn an_unlabelled_namespace_is_judged_by_the_cluster_default() {
    // FACTS.md: Talos applies baseline to every namespace but kube-system by default.
    let ns =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "longhorn-system"}});
    let inventory = Inventory {
        namespace: Some(ns),
        ..Inventory::default()
    };
    let mut cfg = Config {
        cluster_default_enforce: Level::Baseline,
        ..Config::default()
    };
    let found = audit::audit(&inventory, &cfg);
    assert_eq!(
        found.iter().map(|f| f.policy).collect::<Vec<_>>(),
        ["LTG-W002"]
    );
    assert!(
        found[0].message.contains("baseline"),
        "{}",
        found[0].message
    );
    cfg.cluster_default_enforce = Level::Privileged;
    assert_eq!(audit::audit(&inventory, &cfg), vec![]);
}

fn pod(name: &str, owner: Option<&str>, path: &str) -> Value {
    let mut meta = json!({"name": name, "namespace": "longhorn-system"});
    if let Some(kind) = owner {
        meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": "x", "uid": "u", "controller": true}]);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "i"}],
                 "volumes": [{"name": "data", "hostPath": {"path": path}}]}
    })
}

#[test]
fn pod_specs_are_judged_once_through_their_controller() {
    // A pod of a DaemonSet shares its template's finding: judged on the
    // DaemonSet only. A bare pod is judged itself.
    let cfg = Config::default();
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "mover", "namespace": "longhorn-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}],
                 "volumes": [{"name": "data", "hostPath": {"path": "/mnt/data"}}]}}}
    });
    let inventory = Inventory {
        pods: vec![
            pod("mover-abcde", Some("DaemonSet"), "/mnt/data"),
            pod("bare", None, "/mnt/data"),
        ],
        controllers: vec![ds],
        ..Inventory::default()
    };
    let found = audit::audit(&inventory, &cfg);
    let objects: Vec<String> = found.iter().map(|f| f.object.display()).collect();
    assert_eq!(
        objects,
        [
            "DaemonSet longhorn-system/mover",
            "Pod longhorn-system/bare"
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|f| f.policy == "LTG-W030"));
}

#[test]
fn findings_become_policy_reports() {
    let cfg = Config::default();
    let inventory = Inventory {
        namespace: Some(baseline_namespace()),
        longhorn_nodes: vec![fixture("wiped.yaml"), fixture("iscsi.yaml")],
        ..Inventory::default()
    };
    let found = audit::audit(&inventory, &cfg);
    let stamp = report::Timestamp {
        seconds: 1_790_000_000,
        nanos: 0,
    };
    let [namespaced, cluster] = report::reports(&found, "longhorn-system", stamp);
    assert_eq!(namespaced.kind, "PolicyReport");
    assert_eq!(
        namespaced.metadata.namespace.as_deref(),
        Some("longhorn-system")
    );
    assert_eq!((namespaced.summary.fail, namespaced.summary.warn), (2, 0));
    assert_eq!(cluster.kind, "ClusterPolicyReport");
    assert_eq!(cluster.summary.fail, 1);
    assert_eq!(cluster.results[0].resources[0].kind, "Namespace");
    assert_eq!(cluster.results[0].resources[0].uid.as_deref(), Some("ns-1"));
    // A later run with new timestamps has the same content: nothing to write.
    let later = report::reports(
        &found,
        "longhorn-system",
        report::Timestamp {
            seconds: 1_790_000_600,
            nanos: 0,
        },
    );
    assert!(later[0].same_content(&namespaced) && later[1].same_content(&cluster));
    let fixed = report::reports(&found[1..], "longhorn-system", stamp);
    assert!(!fixed[0].same_content(&namespaced) || !fixed[1].same_content(&cluster));
    // The YAML stream reads back as the same objects.
    let yaml = report::to_yaml(&[namespaced.clone(), cluster.clone()]);
    let back: Vec<report::Report> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(back, vec![namespaced, cluster]);
    assert!(
        yaml.starts_with("---\napiVersion: wgpolicyk8s.io/v1alpha2\nkind: PolicyReport\n"),
        "{yaml}"
    );
}

/// A fake API server for the scale test: the lists `audit` reads, served
/// from memory in pages of `limit` (the `continue` token is the offset),
/// counting the requests and the largest page asked for.
mod fake_api {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::{Query, State};
    use axum::http::{StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use serde_json::{Value, json};

    #[derive(Default)]
    pub struct Served {
        pub lists: BTreeMap<String, Vec<Value>>,
        pub objects: BTreeMap<String, Value>,
        pub requests: AtomicUsize,
        pub largest_page: AtomicUsize,
        pub unpaged: AtomicUsize,
    }

    pub async fn handle(
        State(served): State<Arc<Served>>,
        uri: Uri,
        Query(query): Query<BTreeMap<String, String>>,
    ) -> Response {
        served.requests.fetch_add(1, Ordering::Relaxed);
        let path = uri.path().to_string();
        if let Some(object) = served.objects.get(&path) {
            return axum::Json(object.clone()).into_response();
        }
        let Some(items) = served.lists.get(&path) else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "reason": "NotFound", "code": 404, "message": format!("{path} not found")})),
            )
                .into_response();
        };
        let limit: usize = match query.get("limit").and_then(|l| l.parse().ok()) {
            Some(l) => l,
            None => {
                served.unpaged.fetch_add(1, Ordering::Relaxed);
                items.len().max(1)
            }
        };
        served.largest_page.fetch_max(limit, Ordering::Relaxed);
        let start: usize = query
            .get("continue")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let end = (start + limit).min(items.len());
        let next = if end < items.len() {
            end.to_string()
        } else {
            String::new()
        };
        axum::Json(json!({
            "apiVersion": "v1", "kind": "List",
            "metadata": {"resourceVersion": "1", "continue": next},
            "items": items[start.min(end)..end],
        }))
        .into_response()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_of_2000_longhorn_nodes_and_20000_pods_is_paginated_and_bounded() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    const NODES: usize = 2_000;
    const PODS_PER_NODE: usize = 10;
    // The bound this test holds (debug build, 2 shared cores): the whole
    // `audit` command, reads and judgement, well under CI's minute.
    const BOUND: Duration = Duration::from_secs(30);

    let healthy = fixture("healthy.yaml");
    let wiped = fixture("wiped.yaml");
    let mut served = fake_api::Served::default();
    let mut lh_nodes = Vec::new();
    let mut kube_nodes = Vec::new();
    let mut pods = Vec::new();
    for i in 0..NODES {
        let name = format!("talos-w{i:04}");
        // One node in 100 has a wiped disk: 20 findings of LTG-A001.
        let mut node = if i.is_multiple_of(100) {
            wiped.clone()
        } else {
            healthy.clone()
        };
        node["metadata"]["name"] = json!(name);
        node["metadata"]["uid"] = json!(format!("uid-{i}"));
        lh_nodes.push(node);
        kube_nodes.push(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"capacity": {"hugepages-2Mi": "2Gi"}}}),
        );
        for p in 0..PODS_PER_NODE {
            // Pods the instance manager owns are judged one by one (no
            // template stands for them). One in 1,000 mounts /mnt/data.
            let path = if (i * PODS_PER_NODE + p).is_multiple_of(1000) {
                "/mnt/data"
            } else {
                "/var/lib/longhorn/"
            };
            pods.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("instance-manager-{i}-{p}"), "namespace": "longhorn-system",
                    "ownerReferences": [{"apiVersion": "longhorn.io/v1beta2", "kind": "InstanceManager",
                        "name": format!("im-{i}"), "uid": "u", "controller": true}]},
                "spec": {"nodeName": name, "containers": [{"name": "im", "image": "longhornio/longhorn-instance-manager",
                    "volumeMounts": [{"name": "host", "mountPath": "/host", "mountPropagation": "HostToContainer"},
                                     {"name": "data", "mountPath": "/data"}]}],
                    "volumes": [{"name": "host", "hostPath": {"path": "/"}},
                                {"name": "data", "hostPath": {"path": path}}]}
            }));
        }
    }
    let ns = "/api/v1/namespaces/longhorn-system";
    served.objects.insert(
        ns.into(),
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "longhorn-system", "labels": {
            "pod-security.kubernetes.io/enforce": "privileged"}}}),
    );
    served.lists.insert(
        "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/nodes".into(),
        lh_nodes,
    );
    served.lists.insert(
        "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/settings".into(),
        vec![],
    );
    served.lists.insert(format!("{ns}/configmaps"), vec![]);
    served.lists.insert(format!("{ns}/pods"), pods);
    for kind in ["daemonsets", "deployments", "statefulsets", "replicasets"] {
        served.lists.insert(
            format!("/apis/apps/v1/namespaces/longhorn-system/{kind}"),
            vec![],
        );
    }
    for kind in ["jobs", "cronjobs"] {
        served.lists.insert(
            format!("/apis/batch/v1/namespaces/longhorn-system/{kind}"),
            vec![],
        );
    }
    served.lists.insert("/api/v1/nodes".into(), kube_nodes);
    let served = Arc::new(served);
    let app = axum::Router::new()
        .fallback(fake_api::handle)
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: f, cluster: {{server: 'http://{addr}'}}}}]\nusers: [{{name: f, user: {{}}}}]\ncontexts: [{{name: f, context: {{cluster: f, user: f}}}}]\ncurrent-context: f\n"
    )).unwrap();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_longhorn-talos-guard"))
            .args(["audit", "-o", "json", "--kubeconfig"])
            .arg(&kubeconfig)
            .env_remove("LTG_CONFIG")
            .env_remove("LTG_TALOS_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    eprintln!(
        "audit of {NODES} Longhorn nodes, {NODES} Kubernetes nodes and {} pods: {:.2} s, {} requests",
        NODES * PODS_PER_NODE,
        took.as_secs_f64(),
        served.requests.load(Ordering::Relaxed)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["read"]["pods"], NODES * PODS_PER_NODE);
    assert_eq!(parsed["read"]["Longhorn nodes"], NODES);
    assert_eq!(parsed["read"]["Kubernetes nodes"], NODES);
    let count = |policy: &str| {
        parsed["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["policy"] == policy)
            .count()
    };
    assert_eq!(count("LTG-A001"), NODES / 100);
    assert_eq!(count("LTG-W030"), NODES * PODS_PER_NODE / 1000);
    // Paginated: every list asked for pages of at most 500; the pods took 40.
    assert_eq!(served.unpaged.load(Ordering::Relaxed), 0);
    assert_eq!(served.largest_page.load(Ordering::Relaxed), 500);
    // 40 pages of pods, 4 of each kind of node, 8 empty lists, the namespace.
    assert_eq!(served.requests.load(Ordering::Relaxed), 40 + 4 + 4 + 8 + 1);
    assert!(
        took < BOUND,
        "audit took {took:?}, over the bound {BOUND:?}"
    );
}

#[test]
fn settings_the_default_setting_configmap_and_default_disks_annotations() {
    // FACTS.md "Longhorn objects" and "Longhorn installed with Helm": the Setting's
    // top-level value, the ConfigMap's default-setting.yaml, the node label
    // node.longhorn.io/create-default-disk=config with its JSON annotation.
    let cfg = Config::default();
    let setting = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
        "metadata": {"name": "default-data-path", "namespace": "longhorn-system"}, "value": "/mnt/data"});
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "longhorn-default-setting", "namespace": "longhorn-system"},
        "data": {"default-setting.yaml": "default-data-path: /tmp/longhorn\n"}});
    let other_configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unrelated", "namespace": "longhorn-system"},
        "data": {"default-setting.yaml": "default-data-path: /tmp/longhorn\n"}});
    let node = |label: &str| {
        json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("w-{label}"),
            "labels": {"node.longhorn.io/create-default-disk": label},
            "annotations": {"node.longhorn.io/default-disks-config": "[{\"path\": \"/mnt/ssd\", \"allowScheduling\": true}]"}}})
    };
    let inventory = Inventory {
        settings: vec![setting.clone()],
        configmaps: vec![configmap.clone(), other_configmap],
        kube_nodes: vec![node("config"), node("true")],
        ..Inventory::default()
    };
    let found = audit::audit(&inventory, &cfg);
    let got: Vec<(String, &str)> = found
        .iter()
        .map(|f| (f.object.display(), f.policy))
        .collect();
    assert_eq!(
        got,
        [
            (
                "settings.longhorn.io longhorn-system/default-data-path".to_string(),
                "LTG-W011"
            ),
            (
                "ConfigMap longhorn-system/longhorn-default-setting".to_string(),
                "LTG-W014"
            ),
            ("Node w-config".to_string(), "LTG-W012"),
        ],
        "{found:#?}"
    );
    // The webhook's own text, as `check` (the same pipeline) gives it.
    for (object, finding) in [
        (&setting, &found[0]),
        (&configmap, &found[1]),
        (&node("config"), &found[2]),
    ] {
        match check::check_object(object, &cfg, "longhorn-system") {
            check::Outcome::Judged {
                denial: Some(d), ..
            } => assert_eq!(finding.message, d),
            other => panic!("check allows {object}: {other:?}"),
        }
    }
}
