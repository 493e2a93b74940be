//! Integration tests of `talos`: the fixtures in tests/fixtures/talos, loaded,
//! merged, linted and turned into allowed mounts as the CLI will do it.

use longhorn_talos_guard::base::Propagation;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::talos::{
    self, DerivedMount, Finding, LintOptions, MachineConfig, MountOrigin, Severity, TalosError,
    VolumeKind, codes,
};

fn fixture(name: &str) -> (String, String) {
    let path = format!("{}/tests/fixtures/talos/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (name.to_string(), text)
}

fn load(names: &[&str]) -> MachineConfig {
    let inputs: Vec<_> = names.iter().map(|n| fixture(n)).collect();
    talos::load(&inputs).unwrap_or_else(|e| panic!("{names:?}: {e}"))
}

fn lint_with(names: &[&str], options: &LintOptions) -> Vec<Finding> {
    longhorn_talos_guard::lint::lint(&load(names), options)
}

fn lint(names: &[&str]) -> Vec<Finding> {
    lint_with(names, &LintOptions::default())
}

fn v2() -> LintOptions {
    LintOptions {
        v2: true,
        ..LintOptions::default()
    }
}

/// Lints one in-memory file with the V2 checks on.
fn lint_v2_text(file: &str, text: &str) -> Vec<Finding> {
    let c = talos::load(&[(file.into(), text.into())]).unwrap_or_else(|e| panic!("{text}: {e}"));
    longhorn_talos_guard::lint::lint(&c, &v2())
}

fn codes_of(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}

fn only<'a>(findings: &'a [Finding], code: &str) -> &'a Finding {
    let hits: Vec<_> = findings.iter().filter(|f| f.code == code).collect();
    assert_eq!(hits.len(), 1, "one {code} in {findings:#?}");
    hits[0]
}

/// The 1-based line of the first line of fixture `name` containing `needle`.
fn line_of(name: &str, needle: &str) -> u64 {
    let (_, text) = fixture(name);
    let i = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {name}"));
    i as u64 + 1
}

// --- the guide's config: a clean bill, but for Talos's PodSecurity default

#[test]
fn the_guides_legacy_config_has_no_errors() {
    // Longhorn's Talos guide: extraMount /var/lib/longhorn, bind + rshared + rw.
    let findings = lint(&["legacy-1.7-guide.yaml"]);
    assert_eq!(talos::exit_code(&findings), 0, "{findings:#?}");
    assert_eq!(
        codes_of(&findings),
        [codes::POD_SECURITY, codes::UPGRADE_PRESERVE]
    );
}

// --- system extensions

#[test]
fn a_schematic_with_both_extensions_passes() {
    let findings = lint(&["legacy-1.7-guide.yaml", "schematic-longhorn.yaml"]);
    assert!(!codes_of(&findings).contains(&codes::MISSING_EXTENSIONS));
}

#[test]
fn a_schematic_without_util_linux_tools_is_an_error() {
    // Longhorn's Talos guide: iscsi-tools and util-linux-tools from a schematic.
    let findings = lint(&["legacy-1.7-guide.yaml", "schematic-missing.yaml"]);
    let f = only(&findings, codes::MISSING_EXTENSIONS);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.file, "schematic-missing.yaml");
    assert!(
        f.message.contains("siderolabs/util-linux-tools"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("iscsi-tools and"), "{}", f.message);
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("officialExtensions:"));
    assert!(fix.contains("- siderolabs/iscsi-tools\n"));
    assert!(fix.contains("- siderolabs/util-linux-tools\n"));
    assert_eq!(talos::exit_code(&findings), 1);
}

#[test]
fn no_schematic_means_no_extension_finding() {
    let findings = lint(&["v1.10-user-volume.yaml"]);
    assert!(!codes_of(&findings).contains(&codes::MISSING_EXTENSIONS));
}

#[test]
fn machine_install_extensions_is_reported_as_without_effect() {
    // FACTS: machine.install.extensions has no effect since 1.10.
    let findings = lint(&["install-extensions.yaml"]);
    let f = only(&findings, codes::INSTALL_EXTENSIONS);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("no effect since Talos 1.10"),
        "{}",
        f.message
    );
    assert!(f.message.contains("Talos 1.9"), "{}", f.message);
    assert_eq!(
        f.line,
        Some(line_of("install-extensions.yaml", "iscsi-tools:v0.1.6"))
    );
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("- siderolabs/iscsi-tools\n"), "{fix}");
    assert!(fix.contains("- siderolabs/util-linux-tools\n"), "{fix}");
    assert_eq!(talos::exit_code(&findings), 0);
    assert!(!codes_of(&lint(&["legacy-1.7-guide.yaml"])).contains(&codes::INSTALL_EXTENSIONS));
}

// --- data path visibility

#[test]
fn an_extra_mount_without_rshared_is_only_a_note() {
    // Longhorn's Talos guide asks for options [bind, rshared, rw], but nothing fails without
    // rshared: containerd makes pod mounts in the host namespace (containerd v2.2
    // internal/cri/opts/spec_linux_opts.go), and Talos's own Longhorn test has no extraMount
    // (siderolabs/talos hack/test/patches/longhorn.yaml @ v1.14.0-beta.0).
    let findings = lint(&["legacy-no-rshared.yaml"]);
    assert_eq!(codes_of(&findings), [codes::NOT_RSHARED]);
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Note);
    assert_eq!(f.file, "legacy-no-rshared.yaml");
    assert_eq!(
        f.line,
        Some(line_of("legacy-no-rshared.yaml", "- destination:"))
    );
    let doc = f.document.as_ref().unwrap();
    assert_eq!((doc.index, doc.kind.as_str()), (1, "v1alpha1"));
    assert!(f.message.contains("machine.kubelet.extraMounts[0]"));
    assert!(f.message.contains("rshared"));
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("options: [bind, rshared, rw]")
    );
    assert_eq!(talos::exit_code(&findings), 0);
}

#[test]
fn each_defective_extra_mount_gets_its_own_error() {
    let findings = lint(&["legacy-bad-mounts.yaml"]);
    assert_eq!(
        codes_of(&findings),
        [
            codes::SOURCE_NOT_DESTINATION,
            codes::SOURCE_ON_READ_ONLY_ROOT,
            codes::NOT_RW,
            codes::UNDECLARED_VOLUME,
            codes::NOT_BIND,
            codes::UNDECLARED_VOLUME,
        ]
    );
    let sev: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    use Severity::{Error, Warning};
    assert_eq!(sev, [Error, Error, Error, Warning, Error, Warning]);
    assert!(findings[0].message.contains("/data/longhorn"));
    assert!(findings[0].message.contains("extraMounts[0]"));
    // siderolabs/talos#11441: Talos creates the source first; on the read-only root the
    // kubelet service does not start.
    assert!(
        findings[1]
            .message
            .contains("the kubelet service does not start")
    );
    assert!(findings[2].message.contains("read-only"));
    assert!(findings[2].message.contains("extraMounts[1]"));
    // rbind is kept in the fix of an rbind mount.
    assert!(
        findings[2]
            .fix
            .as_deref()
            .unwrap()
            .contains("[rbind, rshared, rw]")
    );
    assert!(findings[3].message.contains("no volume named disk1"));
    assert!(findings[4].message.contains("\"none\""));
    assert!(findings[4].message.contains("extraMounts[2]"));
}

#[test]
fn no_volume_of_its_own_is_a_note() {
    // FACTS "Where data lands on a Talos node": without a volume Longhorn keeps its data in
    // /var/lib/longhorn on EPHEMERAL, and that works (Talos's own Longhorn test, v1.14.0-beta.0).
    let findings = lint(&["legacy-no-mount.yaml"]);
    let f = only(&findings, codes::NO_DATA_LOCATION);
    assert_eq!(f.severity, Severity::Note);
    assert_eq!(f.file, "legacy-no-mount.yaml");
    assert!(
        f.message
            .contains("/var/lib/longhorn, on the EPHEMERAL partition")
    );
    // Talos 1.9 (this fixture's installer) has no user volumes: the guide's extraMount is the fix shown.
    assert!(
        f.message.contains("Talos before 1.10 has no user volumes"),
        "{}",
        f.message
    );
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("destination: /var/lib/longhorn")
    );
    assert_eq!(talos::exit_code(&findings), 0);
}

#[test]
fn a_user_volume_is_a_data_location() {
    // FACTS: a UserVolumeConfig is mounted at /var/mnt/<name>, visible to the kubelet.
    let findings = lint(&["v1.10-user-volume.yaml"]);
    assert_eq!(codes_of(&findings), Vec::<&str>::new());
}

#[test]
fn kubernetes_manifests_alone_are_not_judged_for_data_paths() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: longhorn-system}\n";
    let c = talos::load(&[("ns.yaml".into(), text.into())]).unwrap();
    assert!(longhorn_talos_guard::lint::lint(&c, &LintOptions::default()).is_empty());
}

#[test]
fn a_schematic_alone_is_not_judged_for_data_paths() {
    let findings = lint(&["schematic-longhorn.yaml"]);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn extra_mounts_next_to_kubelet_config_is_an_error() {
    // FACTS: Talos 1.14 rejects machine.kubelet when a KubeletConfig exists.
    let findings = lint_with(&["v1.14-multidoc.yaml"], &v2());
    assert_eq!(
        codes_of(&findings),
        [codes::EXTRA_MOUNTS_WITH_KUBELET_CONFIG]
    );
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("KubeletConfig"));
    assert!(
        f.message
            .contains("v1.14-multidoc.yaml (document 2, KubeletConfig)"),
        "{}",
        f.message
    );
    assert!(f.fix.as_deref().unwrap().contains("kind: UserVolumeConfig"));
}

#[test]
fn the_1_14_config_with_a_user_volume_passes_v2() {
    let findings = lint_with(&["v1.14-multidoc-ok.yaml"], &v2());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn var_lib_longhorn_next_to_a_longhorn_volume_is_a_warning() {
    // FACTS: /var/lib/longhorn next to a user volume shows EPHEMERAL's capacity.
    let findings = lint(&["v1.10-user-volume-and-var-lib.yaml"]);
    assert_eq!(codes_of(&findings), [codes::EPHEMERAL_DATA_PATH]);
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("EPHEMERAL"));
    assert!(f.message.contains("/var/mnt/longhorn"));
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("defaultDataPath: /var/mnt/longhorn")
    );
    assert_eq!(talos::exit_code(&findings), 0);
}

#[test]
fn volume_names_and_directory_volumes() {
    // FACTS: names are 1 to 34 of [A-Za-z0-9-]; volumeType directory is on EPHEMERAL.
    let findings = lint(&["v1.10-volume-problems.yaml"]);
    assert_eq!(
        codes_of(&findings),
        [
            codes::VOLUME_NAME,
            codes::VOLUME_NAME,
            codes::DIRECTORY_VOLUME
        ]
    );
    assert!(findings[0].message.contains("\"longhorn_data\""));
    assert!(findings[0].message.contains("UserVolumeConfig"));
    assert!(
        findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("name: longhorn-data\n")
    );
    assert_eq!(findings[0].document.as_ref().unwrap().index, 1);
    assert!(findings[1].message.contains("ExistingVolumeConfig"));
    assert_eq!(findings[1].document.as_ref().unwrap().index, 3);
    assert_eq!(findings[2].severity, Severity::Warning);
    assert!(findings[2].message.contains("scratch"));
    assert!(findings[2].message.contains("wiped"));
}

// --- Pod Security

#[test]
fn talos_default_pod_security_warns_about_the_longhorn_namespace() {
    // FACTS: Talos's default enforces baseline and exempts only kube-system.
    let findings = lint(&["legacy-1.7-guide.yaml"]);
    let f = only(&findings, codes::POD_SECURITY);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("\"baseline\""));
    assert!(f.message.contains("longhorn-system"));
    assert!(f.message.contains("[kube-system]"));
    assert_eq!(
        f.line,
        Some(line_of("legacy-1.7-guide.yaml", "enforce: baseline"))
    );
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("pod-security.kubernetes.io/enforce: privileged"));
    assert!(fix.contains("name: longhorn-system"));
}

#[test]
fn an_exemption_for_the_longhorn_namespace_silences_the_warning() {
    let findings = lint(&["legacy-1.7-guide.yaml", "patch-psa-exempt.yaml"]);
    assert!(
        !codes_of(&findings).contains(&codes::POD_SECURITY),
        "{findings:#?}"
    );
    // ... but only for the namespace it names.
    let other = LintOptions {
        longhorn_namespace: "storage".into(),
        ..LintOptions::default()
    };
    let findings = lint_with(&["legacy-1.7-guide.yaml", "patch-psa-exempt.yaml"], &other);
    let f = only(&findings, codes::POD_SECURITY);
    assert!(f.message.contains("storage"));
    assert_eq!(f.file, "patch-psa-exempt.yaml");
}

/// The fixture as a control-plane config: Talos takes KubeAdmissionControlConfig
/// only there (talos pkg/machinery v1.14.1 config/container/validate.go).
fn on_control_plane((file, text): (String, String)) -> (String, String) {
    (file, text.replacen("type: worker", "type: controlplane", 1))
}

#[test]
fn a_kube_admission_control_config_on_a_worker_is_refused() {
    let doc = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  defaults:\n    enforce: privileged\n";
    let c = talos::load(&[
        fixture("v1.10-user-volume.yaml"),
        ("admission.yaml".into(), doc.into()),
    ])
    .unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &LintOptions::default());
    let f = only(&findings, codes::TALOS_REFUSES);
    assert_eq!(f.file, "admission.yaml");
    assert!(
        f.message.contains("only allowed on control plane machines"),
        "{}",
        f.message
    );
}

#[test]
fn a_kube_admission_control_config_document_is_read() {
    let base = on_control_plane(fixture("v1.10-user-volume.yaml"));
    // The layout of Talos 1.14's reference: one document per plugin.
    let doc = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  apiVersion: pod-security.admission.config.k8s.io/v1alpha1\n  kind: PodSecurityConfiguration\n  defaults:\n    enforce: restricted\n    enforce-version: latest\n  exemptions:\n    namespaces: [kube-system]\n";
    let c = talos::load(&[base.clone(), ("admission.yaml".into(), doc.into())]).unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &LintOptions::default());
    let f = only(&findings, codes::POD_SECURITY);
    assert_eq!(f.file, "admission.yaml");
    assert!(f.message.contains("\"restricted\""));
    let privileged = doc.replace("restricted", "privileged");
    let c = talos::load(&[base, ("admission.yaml".into(), privileged)]).unwrap();
    assert!(longhorn_talos_guard::lint::lint(&c, &LintOptions::default()).is_empty());
}

#[test]
fn a_kube_admission_control_config_exemption_or_deletion_clears_the_warning() {
    let base = on_control_plane(fixture("v1.10-user-volume.yaml"));
    let doc = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  defaults:\n    enforce: baseline\n  exemptions:\n    namespaces: [kube-system]\n";
    let lint_of = |docs: &[(&str, String)]| {
        let mut inputs = vec![base.clone()];
        inputs.extend(docs.iter().map(|(f, t)| (f.to_string(), t.clone())));
        longhorn_talos_guard::lint::lint(&talos::load(&inputs).unwrap(), &LintOptions::default())
    };
    let findings = lint_of(&[("gen.yaml", doc.into())]);
    assert_eq!(only(&findings, codes::POD_SECURITY).file, "gen.yaml");

    let exempt = doc.replace("[kube-system]", "[kube-system, longhorn-system]");
    assert!(lint_of(&[("gen.yaml", exempt)]).is_empty());

    // Another plugin's document is not PodSecurity's.
    let other = doc.replace("name: PodSecurity", "name: EventRateLimit");
    assert!(lint_of(&[("gen.yaml", other)]).is_empty());

    // A patch deleting the generated document leaves no PodSecurity config.
    let delete = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\n$patch: delete\n";
    assert!(lint_of(&[("gen.yaml", doc.into()), ("patch.yaml", delete.into())]).is_empty());
}

#[test]
fn patch_delete_removes_the_matching_document_only() {
    let base = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: other\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n---\napiVersion: v1alpha1\nkind: KernelModuleConfig\nname: nvme_tcp\n---\napiVersion: v1alpha1\nkind: KernelModuleConfig\nname: vfio_pci\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"1024\"\n";
    let patch = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n$patch: delete\n---\napiVersion: v1alpha1\nkind: KernelModuleConfig\nname: vfio_pci\n$patch: delete\n";
    let c = talos::load(&[
        ("base.yaml".into(), base.into()),
        ("patch.yaml".into(), patch.into()),
    ])
    .unwrap();
    let volumes: Vec<_> = c.volumes.iter().map(|v| v.value.name.as_str()).collect();
    assert_eq!(volumes, ["other"]);
    let findings = longhorn_talos_guard::lint::lint(&c, &v2());
    let f = only(&findings, codes::KERNEL_MODULES);
    assert!(f.message.ends_with("not loaded: vfio_pci"), "{}", f.message);
    assert!(findings.iter().all(|f| f.code != codes::HUGEPAGES));
}

// --- default disks from machine.nodeLabels and machine.nodeAnnotations

#[test]
fn a_default_disk_under_var_mnt_without_a_volume_is_a_warning() {
    // FACTS "Where data lands on a Talos node": /var/mnt/<x> with no volume behind it is a
    // plain folder on EPHEMERAL (talos internal/pkg/mount, user volumes at /var/mnt/<name>).
    let findings = lint(&["default-disks.yaml"]);
    let f = only(&findings, codes::DEFAULT_DISKS_EPHEMERAL);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.line,
        Some(line_of("default-disks.yaml", "default-disks-config"))
    );
    assert!(
        f.message.contains("disk \"fast\": path \"/var/mnt/fast\" is under /var/mnt/fast, but the machine config declares no volume fast"),
        "{}",
        f.message
    );
    assert_eq!(codes_of(&findings), [codes::DEFAULT_DISKS_EPHEMERAL]);
}

#[test]
fn a_default_disk_on_the_read_only_root_is_the_webhooks_error() {
    let patch = "machine:\n  nodeAnnotations:\n    node.longhorn.io/default-disks-config: '[{\"name\":\"ssd\",\"path\":\"/mnt/ssd\"}]'\n";
    let findings = lint_default_disks_with("ro.yaml", patch);
    let f = only(&findings, codes::DEFAULT_DISKS);
    assert_eq!(f.severity, Severity::Error);
    // The webhook's LTG-W012 denial for this node, word for word.
    insta::assert_snapshot!("default-disk-on-the-read-only-root", f.message);
}

/// Lints the default-disks fixture with `patch` (named `file`) merged over it.
fn lint_default_disks_with(file: &str, patch: &str) -> Vec<Finding> {
    let c = talos::load(&[fixture("default-disks.yaml"), (file.into(), patch.into())]).unwrap();
    longhorn_talos_guard::lint::lint(&c, &LintOptions::default())
}

#[test]
fn a_user_volume_for_the_default_disk_clears_it() {
    let volume = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: fast\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n";
    assert!(lint_default_disks_with("fast.yaml", volume).is_empty());
}

#[test]
fn default_disks_without_the_config_label_are_ignored_by_longhorn() {
    let patch = "machine:\n  nodeLabels:\n    node.longhorn.io/create-default-disk: \"true\"\n";
    let findings = lint_default_disks_with("labels.yaml", patch);
    let f = only(&findings, codes::DEFAULT_DISKS_UNUSED);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message
            .ends_with("machine.nodeLabels sets it to \"true\""),
        "{}",
        f.message
    );
    assert_eq!(codes_of(&findings), [codes::DEFAULT_DISKS_UNUSED]);
}

#[test]
fn unreadable_default_disks_are_an_error() {
    let patch = "machine:\n  nodeAnnotations:\n    node.longhorn.io/default-disks-config: '/var/lib/longhorn'\n";
    let findings = lint_default_disks_with("p.yaml", patch);
    let f = only(&findings, codes::DEFAULT_DISKS);
    assert!(
        f.message.contains("is not a JSON list of disks"),
        "{}",
        f.message
    );
    assert_eq!(f.file, "p.yaml");
}

// --- V2 data engine
// --- V2 data engine

#[test]
fn v2_with_too_few_hugepages_and_a_missing_module() {
    // FACTS: V2 needs vm.nr_hugepages 1024 and modules nvme_tcp, vfio_pci;
    // a RawVolumeConfig implies V2 without --v2.
    let findings = lint(&["v2-short.yaml"]);
    assert_eq!(
        codes_of(&findings),
        [
            codes::HUGEPAGES,
            codes::KERNEL_MODULES,
            codes::ENVIRONMENT_CHECK_UIO
        ]
    );
    let hp = &findings[0];
    assert_eq!(hp.severity, Severity::Error);
    assert!(hp.message.contains("is 512"), "{}", hp.message);
    assert!(
        hp.message.contains("RawVolumeConfig longhorn-v2"),
        "{}",
        hp.message
    );
    assert_eq!(hp.line, Some(line_of("v2-short.yaml", "vm.nr_hugepages")));
    assert!(
        hp.fix
            .as_deref()
            .unwrap()
            .contains("vm.nr_hugepages: \"1024\"")
    );
    let km = &findings[1];
    assert!(km.message.contains("vfio_pci"));
    assert!(!km.message.ends_with("nvme_tcp"), "{}", km.message);
    assert_eq!(
        km.fix.as_deref(),
        Some("machine:\n  kernel:\n    modules:\n      - name: vfio_pci\n")
    );
    assert_eq!(talos::exit_code(&findings), 1);
}

#[test]
fn v2_checks_only_run_when_asked_or_implied() {
    assert!(
        lint(&["legacy-no-rshared.yaml"])
            .iter()
            .all(|f| f.code != codes::HUGEPAGES)
    );
    let findings = lint_with(&["legacy-no-rshared.yaml"], &v2());
    let f = only(&findings, codes::HUGEPAGES);
    assert!(f.message.contains("not set"));
    assert!(f.message.contains("--v2"));
    // siderolabs/pkgs kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y, so only vfio_pci is asked for.
    let f = only(&findings, codes::KERNEL_MODULES);
    assert!(f.message.ends_with("not loaded: vfio_pci"), "{}", f.message);
    assert!(!f.fix.as_deref().unwrap().contains("nvme_tcp"));
}

#[test]
fn v2_without_nvme_tcp_is_fine() {
    // siderolabs/pkgs kernel/build/config-amd64 and config-arm64, every tag v1.9.0 to
    // v1.15.0-alpha.0: CONFIG_NVME_TCP=y (built in), CONFIG_VFIO_PCI=m, CONFIG_UIO_PCI_GENERIC=m;
    // longhorn-manager controller/monitor/environment_check_monitor.go v1.12.1 counts "y" as loaded.
    let legacy = "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n  kernel:\n    modules: [{name: vfio_pci}, {name: uio_pci_generic}]\n";
    let documents = "apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: vfio_pci\n---\napiVersion: v1alpha1\nkind: KernelModuleConfig\nname: uio_pci_generic\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"1024\"\n";
    for text in [legacy, documents] {
        let findings = lint_v2_text("v2.yaml", text);
        assert!(
            findings.iter().all(|f| !f.code.starts_with("LTG-T03")),
            "{findings:#?}"
        );
    }
    // Every fix text of a config missing all modules leaves nvme_tcp out.
    let findings: Vec<Finding> = lint_v2_text(
        "v2.yaml",
        "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n",
    )
    .into_iter()
    .filter(|f| f.code.starts_with("LTG-T03"))
    .collect();
    assert_eq!(
        codes_of(&findings),
        [codes::KERNEL_MODULES, codes::ENVIRONMENT_CHECK_UIO]
    );
    for f in &findings {
        assert!(
            !f.fix.as_deref().unwrap_or("").contains("nvme_tcp"),
            "{f:#?}"
        );
    }
}

#[test]
fn the_guides_v2_settings_pass() {
    let findings = lint_with(&["v2-ok.yaml"], &v2());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn v2_in_1_14_style_suggests_documents() {
    let base = fixture("v1.14-multidoc-ok.yaml");
    let text = base
        .1
        .replace("vm.nr_hugepages: 2048", "vm.nr_hugepages: 1000");
    let text = text
        .replace("name: vfio-pci", "name: br_netfilter")
        .replace("name: uio_pci_generic", "name: dm_crypt");
    let c = talos::load(&[("f.yaml".into(), text)]).unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &v2());
    assert_eq!(
        codes_of(&findings),
        [
            codes::HUGEPAGES,
            codes::KERNEL_MODULES,
            codes::ENVIRONMENT_CHECK_UIO
        ]
    );
    assert_eq!(findings[0].document.as_ref().unwrap().kind, "SysctlConfig");
    assert!(
        findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("kind: SysctlConfig")
    );
    assert_eq!(
        findings[1].fix.as_deref(),
        Some("apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: vfio_pci\n")
    );
}

#[test]
fn a_hugepages_value_that_is_not_a_number_is_an_error() {
    let text = "machine:\n  sysctls:\n    vm.nr_hugepages: lots\n  kernel:\n    modules: [{name: nvme_tcp}, {name: vfio_pci}]\n";
    let findings = lint_v2_text("f.yaml", text);
    let f = only(&findings, codes::HUGEPAGES);
    assert!(f.message.contains("\"lots\""));
    assert!(
        f.message.contains("which the kernel refuses as a number"),
        "{}",
        f.message
    );
}

#[test]
fn hugepages_reserved_by_kernel_arguments_count_when_the_sysctl_is_unset() {
    let modules = "  kernel:\n    modules: [{name: nvme_tcp}, {name: vfio_pci}]\n";
    let install =
        |args: &str| format!("machine:\n  install:\n    extraKernelArgs: [{args}]\n{modules}");
    // (case, documents, the hugepages finding's message part, or None for no finding)
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("default size is 2 MiB", install("hugepages=1024"), None),
        (
            "2M named first",
            install("hugepagesz=2M, hugepages=2048"),
            None,
        ),
        (
            "one entry holding two arguments",
            install("\"hugepagesz=2M hugepages=1024\""),
            None,
        ),
        (
            "size in KiB",
            install("hugepagesz=2048k, hugepages=1024"),
            None,
        ),
        (
            "per NUMA node, summed",
            install("\"hugepages=0:512,1:512\""),
            None,
        ),
        (
            "too few",
            install("hugepages=512"),
            Some("the kernel argument \"hugepages=512\" reserves only 512"),
        ),
        (
            "1 GiB pages do not count",
            install("hugepagesz=1G, hugepages=4"),
            Some("nor reserved by a hugepages= kernel argument"),
        ),
        (
            "the default size is 1 GiB",
            install("default_hugepagesz=1G, hugepages=1024"),
            Some("nor reserved by a hugepages= kernel argument"),
        ),
        (
            "not a count",
            install("hugepages=many"),
            Some("\"hugepages=many\" does not give a number of pages"),
        ),
        (
            "the sysctl decides when set",
            format!(
                "machine:\n  install:\n    extraKernelArgs: [hugepages=4096]\n  sysctls:\n    vm.nr_hugepages: \"16\"\n{modules}"
            ),
            Some("vm.nr_hugepages is 16"),
        ),
        (
            "from the schematic",
            format!(
                "machine:\n{modules}---\ncustomization:\n  extraKernelArgs:\n    - hugepagesz=2M\n    - hugepages=1024\n"
            ),
            None,
        ),
    ];
    for (case, text, expect) in cases {
        let findings = lint_v2_text(case, &text);
        let hp: Vec<_> = findings
            .iter()
            .filter(|f| f.code == codes::HUGEPAGES)
            .collect();
        match expect {
            None => assert!(hp.is_empty(), "{case}: {text}\n{hp:#?}"),
            Some(part) => {
                assert_eq!(hp.len(), 1, "{case}: {text}\n{findings:#?}");
                assert!(hp[0].message.contains(part), "{case}: {}", hp[0].message);
            }
        }
    }
}

#[test]
fn a_short_kernel_argument_is_reported_at_its_line() {
    let text = "machine:\n  install:\n    extraKernelArgs:\n      - console=ttyS0\n      - hugepages=100\n  kernel:\n    modules: [{name: nvme_tcp}, {name: vfio_pci}]\n";
    let findings = lint_v2_text("node.yaml", text);
    let f = only(&findings, codes::HUGEPAGES);
    assert_eq!(f.line, Some(5), "{f:#?}");
    assert_eq!(f.file, "node.yaml");
}

// --- merging a patch over a base

#[test]
fn a_patch_merged_over_a_base_wins() {
    let findings = lint_with(&["base.yaml", "patch-v2.yaml"], &v2());
    assert!(findings.is_empty(), "{findings:#?}");
    let c = load(&["base.yaml", "patch-v2.yaml"]);
    assert_eq!(
        c.sysctl("vm.nr_hugepages").unwrap().origin.file,
        "patch-v2.yaml"
    );
    assert_eq!(c.talos_version().unwrap().to_string(), "1.9");
}

#[test]
fn the_base_alone_or_last_loses() {
    let alone = lint_with(&["base.yaml"], &v2());
    assert_eq!(
        codes_of(&alone),
        [
            codes::HUGEPAGES,
            codes::KERNEL_MODULES,
            codes::ENVIRONMENT_CHECK_UIO,
            codes::UPGRADE_PRESERVE
        ]
    );
    // Later wins: the base's hugepages and installer override the patch's.
    let reversed = lint_with(&["patch-v2.yaml", "base.yaml"], &v2());
    assert_eq!(
        codes_of(&reversed),
        [codes::HUGEPAGES, codes::UPGRADE_PRESERVE]
    );
    assert_eq!(reversed[0].file, "base.yaml");
}

// --- upgrades

#[test]
fn talos_before_1_8_gets_the_preserve_note() {
    // FACTS: before Talos 1.8, talosctl upgrade without --preserve wiped /var/lib/longhorn.
    let findings = lint(&["legacy-1.7-guide.yaml"]);
    let f = only(&findings, codes::UPGRADE_PRESERVE);
    assert_eq!(f.severity, Severity::Note);
    assert!(f.message.contains("Talos 1.7"));
    assert!(f.message.contains("--preserve"));
    assert!(f.fix.as_deref().unwrap().contains("--preserve"));
}

#[test]
fn no_note_when_the_version_is_1_8_or_unknown() {
    assert!(
        lint(&["legacy-no-mount.yaml"])
            .iter()
            .all(|f| f.code != codes::UPGRADE_PRESERVE)
    );
    assert!(
        lint(&["legacy-no-rshared.yaml"])
            .iter()
            .all(|f| f.code != codes::UPGRADE_PRESERVE)
    );
}

// --- unreadable input

#[test]
fn broken_yaml_names_the_file_and_line() {
    let inputs = [fixture("legacy-1.7-guide.yaml"), fixture("broken.yaml")];
    let err = talos::load(&inputs).unwrap_err();
    let TalosError::Parse { file, line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(file, "broken.yaml");
    let line = line.expect("a line number");
    // The unclosed flow list starts on line 6; the parser notices it at or after there.
    assert!((6..=9).contains(&line), "line {line}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("broken.yaml:{line}:")), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains("cannot parse"), "{msg}");
    // The position is given once, up front.
    assert!(!msg.contains(" at line "), "{msg}");
}

#[test]
fn a_document_that_is_not_a_mapping_is_a_parse_error() {
    let err = talos::load(&[("list.yaml".into(), "- a\n- b\n".into())]).unwrap_err();
    assert!(err.to_string().starts_with("list.yaml:1: "), "{err}");
}

// --- rendering

#[test]
fn text_rendering() {
    let findings = lint(&["legacy-no-rshared.yaml"]);
    let text = talos::render_text(&findings);
    let line = line_of("legacy-no-rshared.yaml", "- destination:");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "note[LTG-T012] legacy-no-rshared.yaml:{line} (document 1, v1alpha1): machine.kubelet.extraMounts[0]"
        )),
        "{first}"
    );
    assert!(text.contains("\n  fix:\n    # replace machine.kubelet.extraMounts[0] with:\n    machine:\n      kubelet:\n"), "{text}");
    assert!(text.ends_with("0 errors, 0 warnings, 1 note\n"), "{text}");
}

#[test]
fn json_rendering() {
    let findings = lint(&["v1.10-volume-problems.yaml"]);
    let json = serde_json::to_value(&findings).unwrap();
    let first = &json[0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "LTG-T017");
    assert_eq!(first["file"], "v1.10-volume-problems.yaml");
    assert_eq!(first["document"]["index"], 1);
    assert_eq!(first["document"]["kind"], "UserVolumeConfig");
    assert_eq!(first["document"]["name"], "longhorn_data");
    assert!(first["fix"].is_string());
    assert_eq!(json[2]["severity"], "warning");
}

// --- derived mounts

fn paths(mounts: &[DerivedMount]) -> Vec<(&str, Propagation)> {
    mounts
        .iter()
        .map(|m| (m.path.as_str(), m.propagation))
        .collect()
}

#[test]
fn mounts_from_the_guides_extra_mount() {
    let mounts = talos::derive_mounts(&load(&["legacy-1.7-guide.yaml"]));
    assert_eq!(
        paths(&mounts),
        [("/var/lib/longhorn", Propagation::Rshared)]
    );
    assert_eq!(mounts[0].origin, MountOrigin::ExtraMount { index: 0 });
    assert_eq!(mounts[0].document.file, "legacy-1.7-guide.yaml");
}

#[test]
fn mounts_from_options_and_volumes() {
    let c = load(&[
        "legacy-bad-mounts.yaml",
        "legacy-no-rshared.yaml",
        "v1.10-user-volume.yaml",
    ]);
    let mounts = talos::derive_mounts(&c);
    // The later /var/lib/longhorn entry (no rshared) replaces the earlier one.
    assert_eq!(
        paths(&mounts),
        [
            ("/var/mnt/disk1", Propagation::Rshared),
            ("/var/mnt/disk2", Propagation::Rshared),
            ("/var/lib/longhorn", Propagation::Private),
            ("/var/mnt/longhorn", Propagation::Rslave),
        ]
    );
    assert_eq!(
        mounts[3].origin,
        MountOrigin::Volume {
            kind: VolumeKind::UserVolumeConfig,
            name: "longhorn".into(),
            volume_type: Some(longhorn_talos_guard::host::VolumeType::Partition),
        }
    );
}

#[test]
fn an_extra_mount_for_a_volume_path_takes_its_place() {
    let text = "machine:\n  kubelet:\n    extraMounts:\n      - {destination: /var/mnt/longhorn/, source: /var/mnt/longhorn, type: bind, options: [rbind, rslave, rw]}\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n---\napiVersion: v1alpha1\nkind: ExternalVolumeConfig\nname: nfs1\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: bad_name\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n";
    let c = talos::load(&[("f.yaml".into(), text.into())]).unwrap();
    let mounts = talos::derive_mounts(&c);
    assert_eq!(
        paths(&mounts),
        [
            ("/var/mnt/longhorn", Propagation::Rslave),
            ("/var/mnt/nfs1", Propagation::Rslave),
            // Longhorn's control paths are never dropped (FACTS: hard-coded in Longhorn 1.10-1.12).
            ("/var/lib/longhorn", Propagation::Rslave),
        ]
    );
    assert_eq!(mounts[0].origin, MountOrigin::ExtraMount { index: 0 });
    assert_eq!(mounts[2].origin, MountOrigin::LonghornDefault);
}

#[test]
fn mounts_yaml_round_trips_through_the_webhook_config() {
    let c = load(&["legacy-1.7-guide.yaml", "v1.10-user-volume.yaml"]);
    let mounts = talos::derive_mounts(&c);
    let yaml = talos::mounts_config_yaml(&mounts);
    let config = Config::from_yaml(&yaml, "derived").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let got: Vec<_> = config
        .allowed_mounts
        .iter()
        .map(|m| (m.path.as_str(), m.propagation))
        .collect();
    assert_eq!(got, paths(&mounts));
    assert_eq!(got.len(), 2);
    let line = line_of("legacy-1.7-guide.yaml", "- destination:");
    assert!(
        yaml.contains(&format!(
            "  # legacy-1.7-guide.yaml:{line} (document 1, v1alpha1): machine.kubelet.extraMounts[0]\n  - path: \"/var/lib/longhorn\"\n    propagation: rshared\n"
        )),
        "{yaml}"
    );
    assert!(
        yaml.contains("# v1.10-user-volume.yaml:10 (document 2, UserVolumeConfig): UserVolumeConfig longhorn (partition)\n"),
        "{yaml}"
    );
}

#[test]
fn a_config_without_volumes_still_lists_longhorns_own_path() {
    let yaml = talos::mounts_config_yaml(&talos::derive_mounts(&load(&["legacy-no-mount.yaml"])));
    let config = Config::from_yaml(&yaml, "derived").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let got: Vec<&str> = config
        .allowed_mounts
        .iter()
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(got, ["/var/lib/longhorn"], "{yaml}");
}

#[test]
fn odd_paths_and_file_names_stay_valid_yaml() {
    let text = "machine:\n  kubelet:\n    extraMounts:\n      - {destination: '/var/mnt/a #b: c', source: '/var/mnt/a #b: c', type: bind, options: [bind, rshared, rw]}\n";
    let c = talos::load(&[("we#ird\nname.yaml".into(), text.into())]).unwrap();
    let yaml = talos::mounts_config_yaml(&talos::derive_mounts(&c));
    let config = Config::from_yaml(&yaml, "derived").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(config.allowed_mounts[0].path.as_str(), "/var/mnt/a #b: c");
}

#[test]
fn mounts_to_entries_keeps_path_and_propagation() {
    let mounts = talos::derive_mounts(&load(&["v1.10-user-volume-and-var-lib.yaml"]));
    let entries = longhorn_talos_guard::source::mount_entries(&mounts);
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.path.as_str(), e.propagation))
        .collect();
    assert_eq!(
        got,
        [
            ("/var/lib/longhorn", Some(Propagation::Rshared)),
            ("/var/mnt/longhorn", Some(Propagation::Rslave)),
        ]
    );
}

#[test]
fn no_fix_suggests_an_extra_mount_on_the_read_only_root() {
    // siderolabs/talos#11441: an extraMount source Talos cannot create stops the kubelet.
    let text = "machine:\n  kubelet:\n    extraMounts:\n      - {destination: /mnt/ssd, source: /mnt/ssd, type: bind, options: [bind, rw]}\n";
    let c = talos::load(&[("ro.yaml".into(), text.into())]).unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &LintOptions::default());
    assert!(
        codes_of(&findings).contains(&codes::SOURCE_ON_READ_ONLY_ROOT),
        "{findings:#?}"
    );
    for f in &findings {
        let fix = f.fix.as_deref().unwrap_or_default();
        assert!(!fix.contains("source: /mnt/ssd"), "{}: {fix}", f.code);
    }
}

#[test]
fn an_extra_mount_source_talos_ships_passes_and_one_it_does_not_is_an_error() {
    // longhorn_talos_guard::host::ROOTFS (siderolabs/talos v1.14.0-rc.1 Dockerfile,
    // pkg/machinery/config/types/runtime/etc_file.go, pkg/machinery/extensions/extensions.go):
    // /etc/ssl and /usr/local exist on every image; /etc/longhorn does not, and Talos's MkdirAll
    // of the source fails on the read-only root (siderolabs/talos#11441).
    let mount = |src: &str| {
        let text = format!(
            "machine:\n  kubelet:\n    extraMounts:\n      - {{destination: {src}, source: {src}, type: bind, options: [bind, ro]}}\n"
        );
        let c = talos::load(&[("m.yaml".into(), text)]).unwrap();
        codes_of(&longhorn_talos_guard::lint::lint(
            &c,
            &LintOptions::default(),
        ))
        .contains(&codes::SOURCE_ON_READ_ONLY_ROOT)
    };
    assert!(mount("/etc/longhorn"));
    assert!(mount("/usr/longhorn"));
    assert!(!mount("/etc/ssl/certs"));
    assert!(!mount("/usr/local/lib/containers"));
    assert!(!mount("/lib/modules"));
}

#[test]
fn hugepages_are_read_as_the_kernel_reads_them() {
    // Talos writes machine.sysctls unchanged to /proc/sys (FACTS.md "Talos patch merge"); the
    // kernel reads numbers with base 0 (linux kernel/sysctl.c proc_get_long, strtoul_lenient(.., 0, ..)).
    let text = |v: &str| {
        format!(
            "machine:\n  sysctls:\n    vm.nr_hugepages: \"{v}\"\n  kernel:\n    modules: [{{name: nvme_tcp}}, {{name: vfio_pci}}, {{name: uio_pci_generic}}]\n"
        )
    };
    assert!(
        lint_v2_text("hex.yaml", &text("0x400"))
            .iter()
            .all(|f| f.code != codes::HUGEPAGES)
    );
    let findings = lint_v2_text("octal.yaml", &text("01024"));
    let f = only(&findings, codes::HUGEPAGES);
    assert!(
        f.message
            .contains("\"01024\", which the kernel reads as octal (a leading 0): 532"),
        "{}",
        f.message
    );
}

#[test]
fn uio_pci_generic_instead_of_vfio_pci_is_a_warning() {
    // Longhorn's Talos guide offers uio_pci_generic as the alternative to vfio_pci (FACTS.md);
    // Longhorn's environment check wants all of vfio_pci, uio_pci_generic and nvme_tcp
    // (longhorn-manager v1.12.1 controller/monitor/environment_check_monitor.go, kernelModulesV2).
    let text = "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n  kernel:\n    modules: [{name: nvme_tcp}, {name: uio_pci_generic}]\n";
    let findings = lint_v2_text("uio.yaml", text);
    assert_eq!(
        only(&findings, codes::UIO_INSTEAD_OF_VFIO).severity,
        Severity::Warning
    );
    assert!(
        findings
            .iter()
            .all(|f| f.code != codes::KERNEL_MODULES && f.code != codes::ENVIRONMENT_CHECK_UIO),
        "{findings:#?}"
    );
    let text = "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n  kernel:\n    modules: [{name: nvme_tcp}, {name: vfio_pci}]\n";
    let f = only(
        &lint_v2_text("vfio.yaml", text),
        codes::ENVIRONMENT_CHECK_UIO,
    )
    .clone();
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("KernelModulesLoaded=False"),
        "{}",
        f.message
    );
}

#[test]
fn only_an_installer_with_unpatched_open_iscsi_2_1_12_is_an_error() {
    // siderolabs/extensions storage/iscsi-tools/vars.yaml (OPEN_ISCSI_VERSION) and pkg.yaml
    // (node-reopen-log-freq-compat.patch, commit 12c40337, backport 8135db0), read at each tag:
    // 2.1.11 at v1.13.7 and v1.14.0-alpha.2; 2.1.12 unpatched at v1.13.8, v1.14.0-beta.0,
    // v1.14.0-beta.1; 2.1.12 patched at v1.13.9 and v1.14.0-rc.1 (the newest tag read).
    // longhorn/longhorn#13733, siderolabs/extensions#1182: volumes stop attaching.
    let image = |tag: &str| {
        format!("machine:\n  install:\n    image: factory.talos.dev/installer/abc:{tag}\n")
    };
    for tag in ["v1.13.8", "v1.14.0-beta.0", "v1.14.0-beta.1"] {
        let findings = lint_v2_text("i.yaml", &image(tag));
        let f = only(&findings, codes::OPEN_ISCSI_2_1_12);
        assert_eq!(f.severity, Severity::Error, "{tag}");
        let release = tag.trim_start_matches('v');
        insta::assert_snapshot!(
            format!("open-iscsi-{release}"),
            format!(
                "{}\n--- fix:\n{}",
                f.message,
                f.fix.as_deref().unwrap_or("")
            )
        );
    }
    // Patched, older, after the last tag read, a pre-release that was never tagged: nothing.
    for tag in [
        "v1.13.9",
        "v1.14.0-rc.1",
        "v1.13.7",
        "v1.12.9",
        "v1.14.0-alpha.2",
        "v1.14.0",
        "v1.14.1",
        "v1.13.10",
        "v1.15.0",
        "v1.14.0-rc.0",
    ] {
        let findings = lint_v2_text("i.yaml", &image(tag));
        assert!(
            findings.iter().all(|f| f.code != codes::OPEN_ISCSI_2_1_12),
            "{tag}: {findings:?}"
        );
    }
}

#[test]
fn multipath_without_a_blacklist_is_a_warning() {
    // siderolabs/extensions storage/multipath-tools/README.md: /etc/multipath.conf through an
    // ExtensionServiceConfig named multipathd; FACTS.md: Longhorn needs devnode "^sd[a-z0-9]+" blacklisted.
    let module = "machine:\n  kernel:\n    modules: [{name: dm_multipath}]\n";
    let f = only(&lint_v2_text("m.yaml", module), codes::MULTIPATH).clone();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("MultipathdIsRunning"), "{}", f.message);
    let conf = |content: &str| {
        format!(
            "{module}---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: multipathd\nconfigFiles:\n  - mountPath: /etc/multipath.conf\n    content: |\n{content}"
        )
    };
    let good = conf(
        "      defaults {\n          user_friendly_names yes\n      }\n      blacklist {\n          devnode \"^sd[a-z0-9]+\"\n      }\n",
    );
    assert!(
        lint_v2_text("m.yaml", &good)
            .iter()
            .all(|f| f.code != codes::MULTIPATH)
    );
    let bad = conf("      defaults {\n          find_multipaths no\n      }\n");
    let f = only(&lint_v2_text("m.yaml", &bad), codes::MULTIPATH).clone();
    assert!(f.message.contains("has no blacklist"), "{}", f.message);
    let schematic = "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools, siderolabs/util-linux-tools, siderolabs/multipath-tools]\n";
    let c = talos::load(&[("s.yaml".into(), schematic.into())]).unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &LintOptions::default());
    only(&findings, codes::MULTIPATH);
}

#[test]
fn talos_1_14_default_disks_come_from_the_kube_node_config() {
    // Talos 1.14 moves node labels and annotations to KubeNodeConfig (pkg/machinery v1.14.1
    // config/types/k8s/node.go: labels, annotations); its generated configs carry one.
    let node = "apiVersion: v1alpha1\nkind: KubeNodeConfig\nannotations:\n  node.longhorn.io/default-disks-config: '[{\"name\":\"ssd\",\"path\":\"/mnt/ssd\"}]'\n";
    let findings = lint_v2_text("node.yaml", node);
    let f = only(&findings, codes::DEFAULT_DISKS_UNUSED);
    assert!(
        f.message.starts_with("the KubeNodeConfig annotations list"),
        "{}",
        f.message
    );
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .starts_with("apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:")
    );
    let labelled = node.replace(
        "annotations:",
        "labels:\n  node.longhorn.io/create-default-disk: config\nannotations:",
    );
    let findings = lint_v2_text("node.yaml", &labelled);
    assert_eq!(
        only(&findings, codes::DEFAULT_DISKS).severity,
        Severity::Error
    );
}

#[test]
fn positions_survive_the_merge() {
    // Each value keeps the file, document and line it was written on, whichever patch wrote it.
    let base = "version: v1alpha1\nmachine:\n  type: worker\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        type: bind\n        source: /var/lib/longhorn\n        options: [bind, rshared, rw]\n";
    let patch = "# replace the mount\nmachine:\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        $patch: delete\n      - destination: /var/lib/longhorn\n        type: bind\n        source: /var/lib/longhorn\n        options: [bind, ro]\n";
    let c = talos::load(&[
        ("base.yaml".into(), base.into()),
        ("patch.yaml".into(), patch.into()),
    ])
    .unwrap();
    let findings = longhorn_talos_guard::lint::lint(&c, &LintOptions::default());
    let f = only(&findings, codes::NOT_RW);
    assert_eq!((f.file.as_str(), f.line), ("patch.yaml", Some(7)));
    assert_eq!(f.document.as_ref().unwrap().index, 1);
    assert!(
        f.message.starts_with("machine.kubelet.extraMounts[0]"),
        "{}",
        f.message
    );
}
