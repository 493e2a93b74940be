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
    // environment_check_monitor.go v1.12.1: on Talos only iscsiadm is probed
    // ("Missing packages: [iscsiadm]"); FACTS.md: iscsi-tools from an Image Factory schematic.
    let iscsi = only(
        "iscsi.yaml",
        status::ISCSI_TOOLS,
        Outcome::Fail,
        Severity::High,
    );
    assert!(iscsi.message.contains("- siderolabs/iscsi-tools"));
    insta::assert_snapshot!("iscsi", iscsi.message);
    // "Kernel modules [..] are not loaded"; FACTS.md: machine.kernel.modules, or
    // KernelModuleConfig documents on Talos 1.14.
    let modules = only(
        "kernel-modules.yaml",
        status::KERNEL_MODULES,
        Outcome::Fail,
        Severity::High,
    );
    assert!(modules.message.contains("      - name: nvme_tcp\n"));
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
    let mut cfg = Config::default();
    cfg.cluster_default_enforce = Level::Baseline;
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
