//! Talos 1.14 as released: workload isolation (`SecurityProfileConfig`) in
//! `talos mounts` and the host model, system volumes of their own
//! (`VolumeConfig` KUBELET, LOG, ...) that are no longer EPHEMERAL, and no
//! fix text that suggests an extraMount next to a `KubeletConfig` document.

use std::process::Command;

use longhorn_talos_guard::check::{self, Outcome};
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::source::ConfigSource;
use longhorn_talos_guard::talos::{self, Finding, LintOptions, MachineConfig, codes};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");
/// A new 1.14 cluster: isolation on, KUBELET and LOG on partitions of their own.
const ISOLATED: &str = "tests/fixtures/talos-layouts/talos-1.14-isolated-system-volumes.yaml";
/// A 1.14 config without either (as a node upgraded from 1.13 has it).
const KUBELET_CONFIG: &str = "tests/fixtures/talos-layouts/talos-1.14-kubeletconfig.yaml";

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", root())).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn load(files: &[(&str, &str)]) -> MachineConfig {
    let inputs: Vec<(String, String)> = files
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    talos::load(&inputs).unwrap_or_else(|e| panic!("{e}"))
}

fn webhook_config(talos_file: &str) -> Config {
    ConfigSource {
        file: None,
        talos_files: vec![format!("{}/{talos_file}", root()).into()],
    }
    .load()
    .unwrap_or_else(|e| panic!("{talos_file}: {e}"))
}

/// The denial and warnings `check` gives one object.
fn judged(object: &Value, config: &Config) -> (Option<String>, Vec<String>) {
    match check::check_object(object, config, "longhorn-system") {
        Outcome::Judged {
            denial, warnings, ..
        } => (denial, warnings),
        other => panic!("{object}: {other:?}"),
    }
}

#[test]
fn talos_mounts_shows_workload_isolation_and_system_volumes() {
    // siderolabs/talos @ v1.14.0-rc.1: pkg/machinery/config/types/runtime/security_profile_config.go
    // (unnamed SecurityProfileConfig, workloadIsolation), internal/app/machined/pkg/sandboxd/init.go
    // (a PID and mount namespace, /proc remounted), pkg/machinery/config/types/block/volume_config.go
    // (KUBELET and LOG on partitions of their own when provisioning is set).
    let (code, out, err) = run(&["talos", "mounts", ISOLATED]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("talos-mounts-isolated", out);
    // The data locations are those of the same config without the new documents.
    let config = Config::from_yaml(&out, "talos mounts output").unwrap();
    let paths: Vec<&str> = config
        .allowed_mounts
        .iter()
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(paths, ["/var/mnt/longhorn", "/var/lib/longhorn"]);

    // An explicit false overrides the generated true (a pointer bool in Talos);
    // `$patch: delete` removes the document and the note with it.
    let dir = tempfile::tempdir().unwrap();
    let off = dir.path().join("off.yaml");
    std::fs::write(
        &off,
        "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: false\n",
    )
    .unwrap();
    let delete = dir.path().join("delete.yaml");
    std::fs::write(
        &delete,
        "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n$patch: delete\n",
    )
    .unwrap();
    let (code, out_off, err) = run(&[
        "talos",
        "mounts",
        ISOLATED,
        "--patch",
        off.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let note = out_off
        .lines()
        .find(|l| l.starts_with("# Workload isolation"))
        .unwrap_or_else(|| panic!("{out_off}"));
    assert_eq!(
        note,
        format!(
            "# Workload isolation is off ({}:3 (document 1, SecurityProfileConfig) leaves workloadIsolation unset or false): containerd, the kubelet and the pods run on the host.",
            off.display()
        )
    );
    let (code, out_deleted, err) = run(&[
        "talos",
        "mounts",
        ISOLATED,
        "--patch",
        delete.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!out_deleted.contains("Workload isolation"), "{out_deleted}");
    assert!(
        out_deleted.contains("# /var/lib/kubelet is a partition of its own"),
        "{out_deleted}"
    );
    // A config without the documents (a node upgraded from 1.13) prints no note.
    let (_, plain, _) = run(&["talos", "mounts", KUBELET_CONFIG]);
    assert!(
        !plain.contains("Workload isolation") && !plain.contains("partition of its own"),
        "{plain}"
    );
}

#[test]
fn an_isolated_cluster_gets_no_finding_of_its_own() {
    // Talos writes SecurityProfileConfig {workloadIsolation: true} for every new 1.14 cluster
    // (pkg/machinery/config/generate/security_profile.go, contract.go @ v1.14.0-rc.1), and its
    // own Longhorn CI runs so: the document and the system volumes add no finding.
    let text = read(ISOLATED);
    let isolated = longhorn_talos_guard::lint::lint(
        &load(&[("isolated.yaml", &text)]),
        &LintOptions::default(),
    );
    let without: String = text
        .split("\n---\n")
        .filter(|d| !d.contains("kind: SecurityProfileConfig") && !d.contains("kind: VolumeConfig"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    assert_ne!(without, text);
    let plain = longhorn_talos_guard::lint::lint(
        &load(&[("isolated.yaml", &without)]),
        &LintOptions::default(),
    );
    let codes = |f: &[Finding]| f.iter().map(|f| f.code).collect::<Vec<_>>();
    assert_eq!(codes(&isolated), codes(&plain));
    // Its installer (v1.14.1) has a working open-iscsi (base::upstream::ISCSI_TOOLS), so the
    // layout is healthy: no finding at all.
    assert!(isolated.is_empty(), "{isolated:#?}");
}

#[test]
fn a_disk_on_a_system_volume_of_its_own_is_not_called_ephemeral() {
    // siderolabs/talos @ v1.14.0-rc.1 internal/app/machined/pkg/controllers/block/internal/
    // volumes/volumeconfig/system_volumes.go: /var/lib/kubelet is the KUBELET volume, a partition
    // of its own when its VolumeConfig sets provisioning, else a directory under EPHEMERAL.
    let node = json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Node",
        "metadata": {"name": "worker-1", "namespace": "longhorn-system"},
        "spec": {"disks": {"kubelet-disk": {
            "path": "/var/lib/kubelet/longhorn",
            "diskType": "filesystem",
            "allowScheduling": true
        }}}
    });
    assert_eq!(judged(&node, &webhook_config(ISOLATED)), (None, Vec::new()));
    // Without the KUBELET VolumeConfig it is a folder on EPHEMERAL, and said so.
    assert_eq!(
        judged(&node, &webhook_config(KUBELET_CONFIG)),
        (
            None,
            vec![
                "node worker-1 disk kubelet-disk: \"/var/lib/kubelet/longhorn\" is on EPHEMERAL (system disk, wiped by talosctl reset)"
                    .to_string()
            ]
        )
    );
}

/// The `LTG-T...` codes of the README's findings table.
fn readme_codes() -> Vec<String> {
    read("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| LTG-T"))
        .filter_map(|l| l.split_once(' ').map(|(n, _)| format!("LTG-T{n}")))
        .collect()
}

/// A minimal Talos 1.14 config with a `KubeletConfig` document.
const KUBELET_BASE: &str = "version: v1alpha1\nmachine:\n  type: worker\n  install:\n    image: ghcr.io/siderolabs/installer:v1.14.1\n---\napiVersion: v1alpha1\nkind: KubeletConfig\nimage: ghcr.io/siderolabs/kubelet:v1.36.2\n";

/// Patches over [`KUBELET_BASE`] that, together, make the lint give every
/// finding it can give next to a `KubeletConfig` document.
const PATCHES: &[&str] = &[
    // T010 (no volume), then T010 and T040 for an installer older than 1.10 and 1.8.
    "",
    "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:v1.7.6\n",
    // T070 (asked for): a control plane without Talos API access from Kubernetes.
    "machine:\n  type: controlplane\n",
    // T001: a schematic without util-linux-tools.
    "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools]\n",
    // T002.
    "machine:\n  install:\n    extensions:\n      - image: ghcr.io/siderolabs/iscsi-tools:v0.1.4\n",
    // T003: the extensions tag with the unpatched open-iscsi 2.1.12.
    "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:v1.13.8\n",
    // T004: multipath without a blacklist.
    "apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: dm_multipath\n",
    // T015 (and, before, T011 to T014, T019, T053 with extraMount fixes).
    "machine:\n  kubelet:\n    extraMounts:\n      - destination: /var/mnt/fast\n        type: none\n        source: /mnt/data\n        options: [ro]\n",
    // T016: /var/lib/longhorn mounted next to a longhorn user volume.
    "machine:\n  kubelet:\n    extraMounts:\n      - {destination: /var/lib/longhorn, type: bind, source: /var/lib/longhorn, options: [bind, rshared, rw]}\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: directory\n",
    // T017, T018.
    "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: long_horn\nvolumeType: directory\n",
    // T020.
    "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            enforce: baseline\n",
    // T030 to T033 (with --v2): too few hugepages, then each module set.
    "apiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"512\"\n",
    "apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: uio_pci_generic\n",
    "apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: vfio_pci\n",
    // T050, T051, T052: default disks on the read-only root, unlabelled, on EPHEMERAL.
    "apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  node.longhorn.io/create-default-disk: config\nannotations:\n  node.longhorn.io/default-disks-config: '[{\"path\":\"/mnt/ssd\"}]'\n",
    "apiVersion: v1alpha1\nkind: KubeNodeConfig\nannotations:\n  node.longhorn.io/default-disks-config: '[{\"path\":\"/var/mnt/longhorn\"}]'\n",
    "apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  node.longhorn.io/create-default-disk: config\nannotations:\n  node.longhorn.io/default-disks-config: '[{\"path\":\"/var/lib/other\"}]'\n",
    // T060: an unknown key.
    "machine:\n  kubelets: {}\n",
];

/// Findings about extraMounts that are written in the config: next to a
/// `KubeletConfig` Talos refuses them whole (LTG-T015 says so), so none of
/// these is given, with or without a fix.
const NOT_NEXT_TO_A_KUBELET_CONFIG: [&str; 6] = [
    codes::NOT_BIND,
    codes::NOT_RSHARED,
    codes::NOT_RW,
    codes::SOURCE_NOT_DESTINATION,
    codes::SOURCE_ON_READ_ONLY_ROOT,
    codes::UNDECLARED_VOLUME,
];

#[test]
fn next_to_a_kubelet_config_no_fix_suggests_an_extra_mount() {
    // siderolabs/talos pkg/machinery/config/types/k8s/kubelet.go @ v1.14.0-rc.1: KubeletConfig
    // has no extraMounts, and .machine.kubelet next to it is refused (siderolabs/talos#14365).
    let options = LintOptions {
        v2: true,
        talos_api_access: Some("longhorn-talos-guard".to_string()),
        ..LintOptions::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for patch in PATCHES {
        let mut files = vec![("base.yaml", KUBELET_BASE)];
        if !patch.is_empty() {
            files.push(("patch.yaml", patch));
        }
        let config = load(&files);
        assert!(config.kubelet_config.is_some(), "{patch}");
        let mounts_written = patch.contains("extraMounts");
        for f in longhorn_talos_guard::lint::lint(&config, &options) {
            seen.insert(f.code);
            let fix = f.fix.as_deref().unwrap_or_default();
            assert!(
                !fix.to_ascii_lowercase().contains("extramount"),
                "{} suggests an extraMount next to a KubeletConfig:\n{}\n--- patch\n{patch}",
                f.code,
                talos::render_finding(&f)
            );
            // Where the config has none, no message speaks of one either.
            assert!(
                mounts_written || !f.message.to_ascii_lowercase().contains("extramount"),
                "{} speaks of an extraMount next to a KubeletConfig:\n{}\n--- patch\n{patch}",
                f.code,
                talos::render_finding(&f)
            );
        }
    }
    for code in NOT_NEXT_TO_A_KUBELET_CONFIG {
        assert!(!seen.contains(code), "{code} given next to a KubeletConfig");
    }
    let missing: Vec<String> = readme_codes()
        .into_iter()
        .filter(|c| {
            !seen.contains(c.as_str()) && !NOT_NEXT_TO_A_KUBELET_CONFIG.contains(&c.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the patches give no {missing:?}: every finding must be tried next to a KubeletConfig"
    );
}

#[test]
fn next_to_a_kubelet_config_no_webhook_message_suggests_an_extra_mount() {
    // The webhook's fixes carry Talos snippets too (src/policy/render.rs): with the layout of a
    // KubeletConfig config none may name an extraMount; with a 1.10 layout the same pod's
    // fix does (so this test can tell them apart).
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "longhorn-system"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "volumeMounts": [
                {"name": "typed", "mountPath": "/a"},
                {"name": "file", "mountPath": "/b"},
                {"name": "sub", "mountPath": "/c", "subPath": "x"},
                {"name": "ro", "mountPath": "/d"}
            ]}],
            "volumes": [
                {"name": "typed", "hostPath": {"path": "/opt/typed", "type": "Directory"}},
                {"name": "file", "hostPath": {"path": "/var/lib/other/f", "type": "FileOrCreate"}},
                {"name": "sub", "hostPath": {"path": "/var/lib/sub"}},
                {"name": "ro", "hostPath": {"path": "/srv/data"}}
            ]
        }
    });
    let node = json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Node",
        "metadata": {"name": "worker-1", "namespace": "longhorn-system"},
        "spec": {"disks": {
            "root": {"path": "/mnt/ssd", "allowScheduling": true},
            "tmp": {"path": "/run/longhorn", "allowScheduling": true},
            "folder": {"path": "/var/lib/other", "allowScheduling": true}
        }}
    });
    let setting = json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Setting",
        "metadata": {"name": "default-data-path", "namespace": "longhorn-system"},
        "value": "/data/longhorn"
    });
    let texts = |config: &Config| {
        let mut out = Vec::new();
        for object in [&pod, &node, &setting] {
            let (denial, warnings) = judged(object, config);
            out.extend(denial);
            out.extend(warnings);
        }
        out
    };
    let with_document = texts(&webhook_config(KUBELET_CONFIG));
    assert!(with_document.len() >= 3, "{with_document:#?}");
    // A suggestion names the field to write (the snippets of src/base/talos.rs);
    // saying that KubeletConfig has none is no suggestion.
    let suggests =
        |t: &str| t.contains("machine.kubelet.extraMounts") || t.contains("extraMounts:");
    for text in &with_document {
        assert!(!suggests(text), "{text}");
    }
    let older = texts(&webhook_config(
        "tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml",
    ));
    assert!(older.iter().any(|t| suggests(t)), "{older:#?}");
}

// --- talos lint --talos-api-access: the control-plane side of `talos preflight`
// in the cluster. siderolabs/talos pkg/machinery v1.14.1
// config/types/k8s/talos_api_access.go (the KubeTalosAPIAccessConfig document:
// allowedRoles, allowedKubernetesNamespaces; control-plane only; refused next
// to machine.features.kubernetesTalosAPIAccess), config/types/v1alpha1/v1alpha1_types.go
// (the deprecated machine.features.kubernetesTalosAPIAccess: enabled, allowedRoles,
// allowedKubernetesNamespaces), config/container/container.go (the document wins);
// siderolabs/talos v1.14.0-rc.1 internal/app/machined/pkg/controllers/kubeaccess/
// (read on control planes only; roles and namespace matched exactly).

const CONTROL_PLANE: &str = "version: v1alpha1\nmachine:\n  type: controlplane\n  install:\n    image: ghcr.io/siderolabs/installer:v1.14.1\n";

fn api_access(files: &[(&str, &str)], namespace: &str) -> Vec<Finding> {
    let options = LintOptions {
        talos_api_access: Some(namespace.to_string()),
        ..LintOptions::default()
    };
    talos::lint(&load(files), &options)
        .into_iter()
        .filter(|f| f.code == codes::TALOS_API_ACCESS || f.code == codes::TALOS_REFUSES)
        .collect()
}

#[test]
fn talos_api_access_is_checked_only_when_asked() {
    let findings = talos::lint(
        &load(&[("cp.yaml", CONTROL_PLANE)]),
        &LintOptions::default(),
    );
    assert!(
        findings.iter().all(|f| f.code != codes::TALOS_API_ACCESS),
        "{findings:#?}"
    );
}

#[test]
fn a_1_14_control_plane_without_access_gets_the_document() {
    let findings = api_access(&[("cp.yaml", CONTROL_PLANE)], "longhorn-talos-guard");
    insta::assert_snapshot!("talos-api-access-none", talos::render_text(&findings));
}

#[test]
fn the_document_must_allow_the_reader_role_and_the_namespace() {
    let document = "apiVersion: v1alpha1\nkind: KubeTalosAPIAccessConfig\nallowedRoles:\n  - os:operator\nallowedKubernetesNamespaces:\n  - kube-system\n";
    let findings = api_access(
        &[("cp.yaml", CONTROL_PLANE), ("access.yaml", document)],
        "longhorn-talos-guard",
    );
    insta::assert_snapshot!("talos-api-access-document", talos::render_text(&findings));
    // The fix, merged over the config, passes.
    let fix = findings[0].fix.clone().expect("a fix");
    assert!(
        api_access(
            &[
                ("cp.yaml", CONTROL_PLANE),
                ("access.yaml", document),
                ("fix.yaml", &fix)
            ],
            "longhorn-talos-guard",
        )
        .is_empty()
    );
    // Exactly os:reader: os:admin in the list does not grant it (the roles
    // a ServiceAccount asks for are looked up one by one).
    let admin = "apiVersion: v1alpha1\nkind: KubeTalosAPIAccessConfig\nallowedRoles: [os:admin]\nallowedKubernetesNamespaces: [longhorn-talos-guard]\n";
    let findings = api_access(
        &[("cp.yaml", CONTROL_PLANE), ("access.yaml", admin)],
        "longhorn-talos-guard",
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0]
            .message
            .contains("allowedRoles does not include os:reader")
    );
}

#[test]
fn before_1_14_the_machine_features_entry_is_checked() {
    let legacy = "version: v1alpha1\nmachine:\n  type: controlplane\n  install:\n    image: ghcr.io/siderolabs/installer:v1.13.8\n  features:\n    kubernetesTalosAPIAccess:\n      enabled: false\n      allowedRoles:\n        - os:reader\n      allowedKubernetesNamespaces:\n        - kube-system\n";
    let findings = api_access(&[("cp.yaml", legacy)], "longhorn-talos-guard");
    insta::assert_snapshot!("talos-api-access-legacy", talos::render_text(&findings));
    let fix = findings[0].fix.clone().expect("a fix");
    assert!(
        api_access(
            &[("cp.yaml", legacy), ("fix.yaml", &fix)],
            "longhorn-talos-guard"
        )
        .is_empty()
    );
    // Talos 1.13 without either: the machine.features entry (the document is 1.14's).
    let bare = CONTROL_PLANE.replace("v1.14.1", "v1.13.8");
    let findings = api_access(&[("cp.yaml", &bare)], "storage-guard");
    assert!(
        findings[0].fix.as_deref().is_some_and(|f| f.starts_with(
            "machine:\n  features:\n    kubernetesTalosAPIAccess:\n      enabled: true\n"
        )),
        "{findings:#?}"
    );
}

#[test]
fn a_worker_config_is_not_where_access_is_granted() {
    let worker = CONTROL_PLANE.replace("controlplane", "worker");
    assert!(api_access(&[("w.yaml", &worker)], "longhorn-talos-guard").is_empty());
    // And Talos refuses the document on a worker.
    let document = "apiVersion: v1alpha1\nkind: KubeTalosAPIAccessConfig\nallowedRoles: [os:reader]\nallowedKubernetesNamespaces: [longhorn-talos-guard]\n";
    let findings = api_access(
        &[("w.yaml", &worker), ("a.yaml", document)],
        "longhorn-talos-guard",
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].code, codes::TALOS_REFUSES);
    assert!(
        findings[0]
            .message
            .contains(&format!(": {}; ", "the following document kinds are only allowed on control plane machines: [KubeTalosAPIAccessConfig]")),
        "{findings:#?}"
    );
}

#[test]
fn the_document_next_to_the_machine_features_entry_is_refused() {
    let legacy = "version: v1alpha1\nmachine:\n  type: controlplane\n  features:\n    kubernetesTalosAPIAccess:\n      enabled: true\n      allowedRoles: [os:reader]\n      allowedKubernetesNamespaces: [longhorn-talos-guard]\n";
    let document = "apiVersion: v1alpha1\nkind: KubeTalosAPIAccessConfig\nallowedRoles: [os:reader]\nallowedKubernetesNamespaces: [longhorn-talos-guard]\n";
    let findings = api_access(
        &[("cp.yaml", legacy), ("a.yaml", document)],
        "longhorn-talos-guard",
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].code, codes::TALOS_REFUSES);
    assert!(
        findings[0].message.contains(&format!(
            ": {}; ",
            ".machine.features.kubernetesTalosAPIAccess is already set in v1alpha1 config"
        )),
        "{findings:#?}"
    );
}

#[test]
fn talos_lint_takes_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.yaml");
    std::fs::write(&path, CONTROL_PLANE).unwrap();
    let path = path.to_string_lossy().into_owned();
    let (code, out, err) = run(&["talos", "lint", "--talos-api-access", &path]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("error[LTG-T070]") && out.contains("namespace longhorn-talos-guard"),
        "{out}"
    );
    let (code, out, err) = run(&["talos", "lint", "--talos-api-access=storage", &path]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("namespace storage"), "{out}");
    let (_, out, _) = run(&["talos", "lint", &path]);
    assert!(!out.contains("LTG-T070"), "{out}");
}
