//! The checks of `talos lint`: what Longhorn's Talos guide requires, read off
//! a merged machine config, reported as findings with a fix to paste.

use std::fmt;

use serde::Serialize;

use super::model::{DocumentRef, ExtraMount, MachineConfig, Sourced, TalosVersion, VolumeKind};
use crate::base::HostPath;
use crate::base::longhorn::{
    DATA_PATH as LONGHORN_DATA_PATH, DEFAULT_NAMESPACE, DEFAULT_V2_MIN_HUGEPAGES_BYTES,
    hugepages_for, v2_modules_to_load,
};
use crate::base::talos::{
    EPHEMERAL_COST, REQUIRED_EXTENSIONS, Radix, extra_mount_patch, hugepages_patch,
    is_valid_volume_name, modules_patch, suggest_volume_name, sysctl_ulong, user_volume_document,
};
use crate::base::upstream;
use crate::host::{self, Layout, Place};

/// The stable finding codes, and their catalogue ([`codes::CATALOGUE`]).
pub mod codes {
    use super::Severity;

    /// The schematic lacks a required system extension.
    pub const MISSING_EXTENSIONS: &str = "LTG-T001";
    /// `machine.install.extensions` has no effect since Talos 1.10.
    pub const INSTALL_EXTENSIONS: &str = "LTG-T002";
    /// No volume of its own for Longhorn's data.
    pub const NO_DATA_LOCATION: &str = "LTG-T010";
    /// An extraMount is not a bind mount.
    pub const NOT_BIND: &str = "LTG-T011";
    /// An extraMount lacks `rshared`.
    pub const NOT_RSHARED: &str = "LTG-T012";
    /// An extraMount lacks `rw`.
    pub const NOT_RW: &str = "LTG-T013";
    /// An extraMount's source and destination differ (or are not absolute).
    pub const SOURCE_NOT_DESTINATION: &str = "LTG-T014";
    /// extraMounts next to a `KubeletConfig` document.
    pub const EXTRA_MOUNTS_WITH_KUBELET_CONFIG: &str = "LTG-T015";
    /// `/var/lib/longhorn` next to a Longhorn user volume.
    pub const EPHEMERAL_DATA_PATH: &str = "LTG-T016";
    /// An invalid volume name.
    pub const VOLUME_NAME: &str = "LTG-T017";
    /// A user volume of type directory.
    pub const DIRECTORY_VOLUME: &str = "LTG-T018";
    /// An extraMount whose source is on the read-only root.
    pub const SOURCE_ON_READ_ONLY_ROOT: &str = "LTG-T019";
    /// An extraMount of `/var/mnt/<name>` with no such volume.
    pub const UNDECLARED_VOLUME: &str = "LTG-T053";
    /// The Longhorn namespace is not privileged under PodSecurity admission.
    pub const POD_SECURITY: &str = "LTG-T020";
    /// Too few hugepages for the V2 data engine.
    pub const HUGEPAGES: &str = "LTG-T030";
    /// V2: no module to hand NVMe disks to SPDK (vfio_pci, or uio_pci_generic).
    pub const KERNEL_MODULES: &str = "LTG-T031";
    /// Talos before 1.8 wipes `/var/lib/longhorn` on upgrade without `--preserve`.
    pub const UPGRADE_PRESERVE: &str = "LTG-T040";
    /// The default disks of the node annotation are not visible to the kubelet.
    pub const DEFAULT_DISKS: &str = "LTG-T050";
    /// The default disks annotation without the label that makes Longhorn read it.
    pub const DEFAULT_DISKS_UNUSED: &str = "LTG-T051";
    /// A default disk of the node annotation on EPHEMERAL.
    pub const DEFAULT_DISKS_EPHEMERAL: &str = "LTG-T052";
    /// Talos refuses the config.
    pub const TALOS_REFUSES: &str = "LTG-T060";
    /// The installer ships open-iscsi 2.1.12 without the compatibility patch.
    pub const OPEN_ISCSI_2_1_12: &str = "LTG-T003";
    /// Multipath without a blacklist for Longhorn's devices.
    pub const MULTIPATH: &str = "LTG-T004";
    /// V2: uio_pci_generic instead of vfio_pci.
    pub const UIO_INSTEAD_OF_VFIO: &str = "LTG-T032";
    /// V2: uio_pci_generic not loaded (Longhorn's environment check).
    pub const ENVIRONMENT_CHECK_UIO: &str = "LTG-T033";
    /// The control planes do not let the guard's namespace read the Talos API.
    pub const TALOS_API_ACCESS: &str = "LTG-T070";

    /// Every code with its severity and meaning: the lint's part of
    /// [`crate::catalogue`] (the README's findings table is checked against it).
    pub const CATALOGUE: [(&str, Severity, &str); 26] = [
        (
            "LTG-T001",
            Severity::Error,
            "The schematic lacks `siderolabs/iscsi-tools` or `siderolabs/util-linux-tools`.",
        ),
        (
            "LTG-T002",
            Severity::Warning,
            "`machine.install.extensions` is set; it has no effect since Talos 1.10.",
        ),
        (
            "LTG-T003",
            Severity::Error,
            "The installer's Talos release ships open-iscsi 2.1.12 without the compatibility patch in `siderolabs/iscsi-tools` (Talos 1.13.8, 1.14.0-beta.0, 1.14.0-beta.1: volumes stop attaching); the table is [`crate::base::upstream::ISCSI_TOOLS`].",
        ),
        (
            "LTG-T004",
            Severity::Warning,
            "`siderolabs/multipath-tools` or `dm_multipath` without a `multipath.conf` blacklist for Longhorn's devices.",
        ),
        (
            "LTG-T010",
            Severity::Note,
            "No user, existing or external volume: Longhorn's data stays in `/var/lib/longhorn` on EPHEMERAL.",
        ),
        (
            "LTG-T011",
            Severity::Error,
            "An extraMount is not a bind mount (`type` other than `bind`, or no `bind`/`rbind` option).",
        ),
        (
            "LTG-T012",
            Severity::Note,
            "An extraMount lacks `rshared` (Longhorn's guide lists it; nothing fails without it).",
        ),
        (
            "LTG-T013",
            Severity::Error,
            "An extraMount is `ro` (the kubelet cannot create DirectoryOrCreate paths below it).",
        ),
        (
            "LTG-T014",
            Severity::Error,
            "An extraMount's source and destination differ, or one is missing or not absolute.",
        ),
        (
            "LTG-T015",
            Severity::Error,
            "`machine.kubelet.extraMounts` next to a `KubeletConfig` document (Talos 1.14 rejects it).",
        ),
        (
            "LTG-T016",
            Severity::Warning,
            "`/var/lib/longhorn` is mounted next to a Longhorn user volume (capacity shown is EPHEMERAL's).",
        ),
        (
            "LTG-T017",
            Severity::Error,
            "A volume name is not 1 to 34 of `[A-Za-z0-9-]`.",
        ),
        (
            "LTG-T018",
            Severity::Warning,
            "A `UserVolumeConfig` of `volumeType: directory` (on EPHEMERAL, wiped by a reset).",
        ),
        (
            "LTG-T019",
            Severity::Error,
            "An extraMount's source is on the read-only root where no Talos image has it: Talos cannot create it and the kubelet does not start.",
        ),
        (
            "LTG-T053",
            Severity::Warning,
            "An extraMount of `/var/mnt/<name>` with no volume `<name>` declared (a plain folder on EPHEMERAL).",
        ),
        (
            "LTG-T020",
            Severity::Warning,
            "PodSecurity admission enforces a level other than privileged and does not exempt the Longhorn namespace.",
        ),
        (
            "LTG-T030",
            Severity::Error,
            "V2: `vm.nr_hugepages` (or, when it is unset, the 2 MiB `hugepages=` kernel argument) missing, not a number, or below 1024.",
        ),
        (
            "LTG-T031",
            Severity::Error,
            "V2: neither `vfio_pci` nor `uio_pci_generic` loaded (`nvme_tcp` is built into Talos's kernel: never asked for).",
        ),
        (
            "LTG-T032",
            Severity::Warning,
            "V2: `uio_pci_generic` loaded instead of `vfio_pci` (the guide's alternative).",
        ),
        (
            "LTG-T033",
            Severity::Warning,
            "V2: `uio_pci_generic` not loaded; Longhorn's environment check asks for it (and counts the built-in `nvme_tcp` as present).",
        ),
        (
            "LTG-T040",
            Severity::Note,
            "Talos before 1.8: `talosctl upgrade` needs `--preserve` or `/var/lib/longhorn` is wiped.",
        ),
        (
            "LTG-T050",
            Severity::Error,
            "The default disks in `machine.nodeAnnotations` are unreadable or sit where a disk fails or loses data on this node (the webhook's own rules LTG-W010/W012 and message).",
        ),
        (
            "LTG-T052",
            Severity::Warning,
            "A default disk in `machine.nodeAnnotations` is a plain folder on EPHEMERAL (the webhook's LTG-W013).",
        ),
        (
            "LTG-T060",
            Severity::Error,
            "Talos refuses the config (a patch it cannot load or apply, an unknown key, a rule of its validation); Talos's reason is quoted.",
        ),
        (
            "LTG-T051",
            Severity::Warning,
            "`machine.nodeAnnotations` lists default disks, but `machine.nodeLabels` does not set `node.longhorn.io/create-default-disk: config`, so Longhorn ignores them.",
        ),
        (
            "LTG-T070",
            Severity::Error,
            "With `--talos-api-access`: the control-plane config does not let the guard's namespace get an `os:reader` certificate (`KubeTalosAPIAccessConfig` in Talos 1.14, `machine.features.kubernetesTalosAPIAccess` before).",
        ),
    ];
}

/// How serious a finding is. Only errors fail `talos lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Longhorn will not work, or data will be lost.
    Error,
    /// Likely wrong; check it.
    Warning,
    /// Worth knowing.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem found in a machine config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// A stable code from [`codes`].
    pub code: &'static str,
    /// The input file the finding points at.
    pub file: String,
    /// The 1-based line in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The document in `file`, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentRef>,
    /// What is wrong, why it matters, and what to do.
    pub message: String,
    /// A YAML snippet that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// What `talos lint` checks beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintOptions {
    /// Check the V2 data engine's prerequisites (also implied by a `RawVolumeConfig`).
    pub v2: bool,
    /// The namespace Longhorn is installed in.
    pub longhorn_namespace: String,
    /// Check that the control planes let this namespace (the guard's) read
    /// the Talos API with the `os:reader` role (`talos preflight` in the
    /// cluster, through a `talos.dev` ServiceAccount).
    pub talos_api_access: Option<String>,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            v2: false,
            longhorn_namespace: DEFAULT_NAMESPACE.to_string(),
            talos_api_access: None,
        }
    }
}

/// The exit status for a set of findings: 1 when any is an error, else 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        1
    } else {
        0
    }
}

/// Renders one finding: `severity[code] file:line (document N, Kind): message`,
/// then the fix indented under `fix:`.
pub fn render_finding(f: &Finding) -> String {
    let mut out = format!("{}[{}] {}", f.severity, f.code, f.file);
    if let Some(line) = f.line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(doc) = &f.document {
        out.push_str(&format!(" (document {}, {}", doc.index, doc.kind));
        if let Some(name) = &doc.name {
            out.push_str(&format!(" {name}"));
        }
        out.push(')');
    }
    out.push_str(": ");
    out.push_str(&f.message);
    out.push('\n');
    if let Some(fix) = &f.fix {
        out.push_str("  fix:\n");
        for line in fix.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Renders all findings, one block each separated by a blank line, and a
/// closing count line.
pub fn render_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&render_finding(f));
        out.push('\n');
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    out.push_str(&format!(
        "{}, {}, {}\n",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Note), "note"),
    ));
    out
}

/// 1024 pages of 2 MiB: Longhorn's `data-engine-memory-size` default of 2 GiB.
const MIN_HUGEPAGES: u64 = hugepages_for(DEFAULT_V2_MIN_HUGEPAGES_BYTES);

/// Runs every check on a merged machine config.
pub fn lint(config: &MachineConfig, options: &LintOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    check_refusals(config, &mut out);
    check_extensions(config, &mut out);
    check_data_path(config, &mut out);
    check_volumes(config, &mut out);
    check_pod_security(config, options, &mut out);
    check_v2(config, options, &mut out);
    check_upgrade(config, &mut out);
    check_iscsi(config, &mut out);
    check_multipath(config, &mut out);
    if let Some(namespace) = &options.talos_api_access {
        check_talos_api_access(config, namespace, &mut out);
    }
    out
}

/// A finding at a sourced value: its file, line and document.
pub fn at<T>(
    severity: Severity,
    code: &'static str,
    item: &Sourced<T>,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        line: Some(item.line),
        ..at_document(severity, code, &item.origin, message, fix)
    }
}

fn at_document(
    severity: Severity,
    code: &'static str,
    doc: &DocumentRef,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        code,
        file: doc.file.clone(),
        line: Some(doc.line),
        document: Some(doc.clone()),
        message,
        fix,
    }
}

/// Where to report something that is missing: the legacy document, else
/// the first document, else the first file.
fn at_config(
    config: &MachineConfig,
    severity: Severity,
    code: &'static str,
    message: String,
    fix: Option<String>,
) -> Finding {
    let doc = config
        .legacy
        .as_ref()
        .or_else(|| {
            config
                .documents
                .iter()
                .find(|d| !d.foreign && d.kind != super::SCHEMATIC_KIND)
        })
        .or(config.documents.first());
    match doc {
        Some(doc) => at_document(severity, code, doc, message, fix),
        None => Finding {
            severity,
            code,
            file: config.inputs.first().cloned().unwrap_or_default(),
            line: None,
            document: None,
            message,
            fix,
        },
    }
}

/// Quotes a value for a YAML snippet when plain style would misread it.
fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
        && !s.starts_with(['-', '.']);
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

fn schematic_fix(extensions: &[String]) -> String {
    let mut fix = String::from("customization:\n  systemExtensions:\n    officialExtensions:\n");
    for e in extensions {
        fix.push_str(&format!("      - {}\n", yaml_str(e)));
    }
    fix
}

/// `ghcr.io/siderolabs/iscsi-tools:v0.1.4@sha256:...` -> `siderolabs/iscsi-tools`.
fn extension_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let (head, last) = no_digest.rsplit_once('/').unwrap_or(("", no_digest));
    let last = last.split(':').next().unwrap_or(last);
    let mut parts: Vec<&str> = if head.is_empty() {
        Vec::new()
    } else {
        head.split('/').collect()
    };
    if parts
        .first()
        .is_some_and(|r| r.contains('.') || r.contains(':') || *r == "localhost")
    {
        parts.remove(0);
    }
    parts.push(last);
    parts.join("/")
}

fn check_extensions(config: &MachineConfig, out: &mut Vec<Finding>) {
    if let Some(schematic) = &config.schematic {
        let missing: Vec<&str> = REQUIRED_EXTENSIONS
            .into_iter()
            .filter(|r| !schematic.value.iter().any(|e| e == r))
            .collect();
        if !missing.is_empty() {
            let mut wanted = schematic.value.clone();
            wanted.extend(missing.iter().map(|m| m.to_string()));
            out.push(at(
                Severity::Error,
                codes::MISSING_EXTENSIONS,
                schematic,
                format!(
                    "the schematic does not list {}: Longhorn needs iscsi-tools (iscsid and iscsiadm, to attach V1 volumes) and util-linux-tools (fstrim, to trim volumes); build a new installer image from this schematic at the Image Factory and upgrade the nodes to it",
                    missing.join(" and ")
                ),
                Some(schematic_fix(&wanted)),
            ));
        }
    }
    if let Some(first) = config.install_extensions.first() {
        let images: Vec<&str> = config
            .install_extensions
            .iter()
            .map(|e| e.value.as_str())
            .collect();
        let mut names: Vec<String> = images.iter().map(|i| extension_name(i)).collect();
        for r in REQUIRED_EXTENSIONS {
            if !names.iter().any(|n| n == r) {
                names.push(r.to_string());
            }
        }
        let version_note = match config.talos_version() {
            Some(v)
                if v < (TalosVersion {
                    major: 1,
                    minor: 10,
                }) =>
            {
                format!(
                    " (the installer here is Talos {v}, where it still works, but the extensions disappear on the upgrade to 1.10)"
                )
            }
            _ => String::new(),
        };
        out.push(at(
            Severity::Warning,
            codes::INSTALL_EXTENSIONS,
            first,
            format!(
                "machine.install.extensions ({}) has no effect since Talos 1.10{version_note}; system extensions come from an Image Factory schematic baked into the installer image: remove the field and use an installer built from this schematic",
                images.join(", ")
            ),
            Some(schematic_fix(&names)),
        ));
    }
}

fn check_refusals(config: &MachineConfig, out: &mut Vec<Finding>) {
    for r in &config.refusals {
        out.push(at(
            Severity::Error,
            codes::TALOS_REFUSES,
            r,
            format!(
                "Talos refuses this config: {}; talosctl stops here and the node keeps its old config (the other findings read the config without what Talos refuses)",
                r.value
            ),
            None,
        ));
    }
}

fn extra_mount_fix(index: usize, path: &str, bind: &str) -> String {
    format!(
        "# replace machine.kubelet.extraMounts[{index}] with:\n{}",
        extra_mount_patch(&yaml_str(path), bind)
    )
}

fn guide_extra_mount_fix() -> String {
    extra_mount_patch(LONGHORN_DATA_PATH, "bind")
}

fn user_volume_fix() -> String {
    "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nprovisioning:\n  diskSelector:\n    match: \"!system_disk\" # pick the disk for Longhorn\n  minSize: 100GiB\n# and in Longhorn's Helm values:\n# defaultSettings:\n#   defaultDataPath: /var/mnt/longhorn\n"
        .to_string()
}

fn check_data_path(config: &MachineConfig, out: &mut Vec<Finding>) {
    if !config.has_machine_config() {
        return;
    }
    let layout = super::layout(config);
    // Next to a KubeletConfig document Talos refuses machine.kubelet whole
    // (LTG-T015, with its fix): how each extraMount is written does not
    // matter, and a fix rewriting one would be refused too.
    let per_mount = config.kubelet_config.is_none();
    for (i, m) in config.extra_mounts.iter().enumerate().filter(|_| per_mount) {
        check_extra_mount(i, m, &layout, out);
    }
    check_extra_mounts_next_to_kubelet_config(config, out);
    check_no_data_location(config, &layout, out);
    check_data_path_next_to_longhorn_volume(config, out);
}

/// One extraMount (LTG-T011 to T014, T019, T053): how it is written, where
/// its source is, and whether the volume it names exists.
fn check_extra_mount(i: usize, m: &Sourced<ExtraMount>, layout: &Layout, out: &mut Vec<Finding>) {
    let mount = &m.value;
    let field = format!("machine.kubelet.extraMounts[{i}]");
    let dest = mount.destination.as_deref().map(HostPath::parse);
    let source = mount.source.as_deref().map(HostPath::parse);
    let shown = mount
        .destination
        .clone()
        .or_else(|| mount.source.clone())
        .unwrap_or_else(|| "?".to_string());
    let fix_path = match (&dest, &source) {
        (Some(Ok(d)), _) => d.as_str().to_string(),
        (_, Some(Ok(s))) => s.as_str().to_string(),
        _ => LONGHORN_DATA_PATH.to_string(),
    };
    let bind = if mount.has_option("rbind") {
        "rbind"
    } else {
        "bind"
    };
    // Never an extraMount whose source Talos cannot create (the read-only
    // root, where the kubelet would not start): a user volume instead.
    let fix = match HostPath::parse(&fix_path).map(|p| host::classify(&p, None)) {
        Ok(Place::ReadOnlyRoot { .. } | Place::Tmpfs { .. }) => Some(user_volume_fix()),
        _ => Some(extra_mount_fix(i, &fix_path, bind)),
    };
    match (&dest, &source) {
        (Some(Ok(d)), Some(Ok(s))) if d != s => out.push(at(
            Severity::Error,
            codes::SOURCE_NOT_DESTINATION,
            m,
            format!(
                "{field} mounts host {s} at {d} in the kubelet container: the kubelet then sees host {s} where Longhorn's pods get host {d}, so folders and mounts the kubelet makes for {d} land somewhere Longhorn does not look; use the same path for source and destination"
            ),
            fix.clone(),
        )),
        (Some(Ok(_)), Some(Ok(_))) => {}
        _ => {
            let what = match (&dest, &source) {
                (None, _) => "has no destination".to_string(),
                (_, None) => "has no source".to_string(),
                (Some(Err(e)), _) => format!("destination {shown:?}: {e}"),
                (_, Some(Err(e))) => format!(
                    "source {:?}: {e}",
                    mount.source.as_deref().unwrap_or_default()
                ),
                _ => String::new(),
            };
            out.push(at(
                Severity::Error,
                codes::SOURCE_NOT_DESTINATION,
                m,
                format!(
                    "{field} {what}; an extraMount for Longhorn needs the same absolute host path as source and destination"
                ),
                fix.clone(),
            ));
        }
    }
    let type_ok = mount.mount_type.as_deref().is_none_or(|t| t == "bind");
    if !type_ok || !(mount.has_option("bind") || mount.has_option("rbind")) {
        let why = if type_ok {
            "its options have neither bind nor rbind".to_string()
        } else {
            format!(
                "its type is {:?}, not bind",
                mount.mount_type.as_deref().unwrap_or_default()
            )
        };
        out.push(at(
            Severity::Error,
            codes::NOT_BIND,
            m,
            format!(
                "{field} ({shown}) is not a bind mount: {why}; the kubelet container only sees the host folder through a bind mount (type: bind, options bind or rbind)"
            ),
            fix.clone(),
        ));
    }
    if !mount.has_option("rshared") {
        out.push(at(
            Severity::Note,
            codes::NOT_RSHARED,
            m,
            format!(
                "{field} ({shown}) lacks the rshared option that Longhorn's Talos guide lists; nothing fails without it: Longhorn's pods get their host paths from containerd in the host's mount namespace, not through the kubelet's view, and Talos's own Longhorn test runs Longhorn with no extraMount at all"
            ),
            fix.clone(),
        ));
    }
    if mount.has_option("ro") {
        out.push(at(
            Severity::Error,
            codes::NOT_RW,
            m,
            format!(
                "{field} ({shown}) is read-only (ro) in the kubelet container: the kubelet creates DirectoryOrCreate host paths (Longhorn's instance-manager log folder among them) in its own view, which fails on a read-only mount, and the pod never starts; Longhorn's Talos guide mounts it rw"
            ),
            fix.clone(),
        ));
    }
    if let Some(Ok(src)) = &source
        && host::classify(src, None) == (Place::ReadOnlyRoot { system_tree: false })
    {
        out.push(at(
            Severity::Error,
            codes::SOURCE_ON_READ_ONLY_ROOT,
            m,
            format!(
                "{field} has its source {src} on Talos's read-only root filesystem: Talos creates an extraMount's source before it starts the kubelet, which fails there, and the kubelet service does not start (siderolabs/talos#11441); for a disk of its own give Longhorn a UserVolumeConfig (Talos mounts it at /var/mnt/<name>, which the kubelet already sees) and drop this extraMount"
            ),
            Some(user_volume_fix()),
        ));
    }
    if let Some(Ok(d)) = &dest
        && let Place::UndeclaredVolume { name } = host::classify(d, Some(layout))
    {
        out.push(at(
            Severity::Warning,
            codes::UNDECLARED_VOLUME,
            m,
            format!(
                "{field} mounts {d}, but no volume named {name} is declared: /var/mnt/{name} is then a plain folder on the EPHEMERAL partition ({EPHEMERAL_COST}), not a disk of its own; declare a UserVolumeConfig named {name}"
            ),
            Some(user_volume_document(&yaml_str(&name), None)),
        ));
    }
}

/// extraMounts next to a `KubeletConfig` document (LTG-T015).
fn check_extra_mounts_next_to_kubelet_config(config: &MachineConfig, out: &mut Vec<Finding>) {
    if let (Some(kubelet), Some(first)) = (&config.kubelet_config, config.extra_mounts.first()) {
        out.push(at(
            Severity::Error,
            codes::EXTRA_MOUNTS_WITH_KUBELET_CONFIG,
            first,
            format!(
                "machine.kubelet.extraMounts is set next to the KubeletConfig document at {kubelet}: Talos 1.14 rejects machine.kubelet when a KubeletConfig document exists, and KubeletConfig has no extraMounts field; give Longhorn a UserVolumeConfig (mounted at /var/mnt/<name>, which the kubelet sees) and set Longhorn's data path to it, or drop the KubeletConfig document"
            ),
            Some(user_volume_fix()),
        ));
    }
}

/// No data location of its own for Longhorn (LTG-T010).
fn check_no_data_location(config: &MachineConfig, layout: &Layout, out: &mut Vec<Finding>) {
    if config.volumes.is_empty() && config.extra_mounts.is_empty() {
        // Talos before 1.10 knows no KubeletConfig document: with one, the
        // config is for a later Talos whatever the installer image says.
        let (how, fix) = if layout.before(1, 10) && config.kubelet_config.is_none() {
            (
                "Talos before 1.10 has no user volumes, so that is the place; Longhorn's guide for it also adds an extraMount of /var/lib/longhorn (bind, rshared, rw), which nothing in Longhorn needs to work",
                guide_extra_mount_fix(),
            )
        } else {
            (
                "for a disk of its own add a UserVolumeConfig and set Longhorn's data path to /var/mnt/<name>",
                user_volume_fix(),
            )
        };
        out.push(at_config(
            config,
            Severity::Note,
            codes::NO_DATA_LOCATION,
            format!(
                "no UserVolumeConfig, ExistingVolumeConfig or ExternalVolumeConfig: Longhorn keeps its data in its default {LONGHORN_DATA_PATH}, on the EPHEMERAL partition (the system disk's capacity, kept across reboots and upgrades from Talos 1.8, wiped by talosctl reset); {how}"
            ),
            Some(fix),
        ));
    }
}

/// `/var/lib/longhorn` mounted next to a Longhorn user volume (LTG-T016).
fn check_data_path_next_to_longhorn_volume(config: &MachineConfig, out: &mut Vec<Finding>) {
    let longhorn_volume = config
        .volumes
        .iter()
        .find(|v| v.value.name.to_ascii_lowercase().contains("longhorn"));
    if let (Some(volume), Ok(data_path)) = (longhorn_volume, HostPath::parse(LONGHORN_DATA_PATH)) {
        for (i, m) in config.extra_mounts.iter().enumerate() {
            let Some(Ok(dest)) = m.value.destination.as_deref().map(HostPath::parse) else {
                continue;
            };
            if dest.is_within(&data_path) {
                out.push(at(
                    Severity::Warning,
                    codes::EPHEMERAL_DATA_PATH,
                    m,
                    format!(
                        "machine.kubelet.extraMounts[{i}] mounts {dest} while {} {} provides {}: a Longhorn disk at {LONGHORN_DATA_PATH} lives on the EPHEMERAL partition and Longhorn shows EPHEMERAL's capacity, not the volume's; set Longhorn's data path to {} and drop this extraMount",
                        volume.value.kind,
                        volume.value.name,
                        volume.value.mount_point(),
                        volume.value.mount_point(),
                    ),
                    Some(format!(
                        "# Longhorn Helm values\ndefaultSettings:\n  defaultDataPath: {}\n",
                        volume.value.mount_point()
                    )),
                ));
            }
        }
    }
}

fn check_volumes(config: &MachineConfig, out: &mut Vec<Finding>) {
    let names = config
        .volumes
        .iter()
        .map(|v| {
            (
                &v.origin,
                v.line,
                v.value.kind.as_str(),
                v.value.name.as_str(),
            )
        })
        .chain(
            config
                .raw_volumes
                .iter()
                .map(|v| (&v.origin, v.line, "RawVolumeConfig", v.value.as_str())),
        );
    for (origin, _line, kind, name) in names {
        if !is_valid_volume_name(name) {
            out.push(at_document(
                Severity::Error,
                codes::VOLUME_NAME,
                origin,
                format!(
                    "the {kind} name {name:?} is not valid: Talos accepts 1 to 34 characters of letters, digits and '-' (it becomes the folder under /var/mnt or the partition label)"
                ),
                Some(format!(
                    "apiVersion: v1alpha1\nkind: {kind}\nname: {}\n",
                    suggest_volume_name(name)
                )),
            ));
        }
    }
    for v in &config.volumes {
        if v.value.kind == VolumeKind::UserVolumeConfig
            && v.value.volume_type.as_deref() == Some("directory")
        {
            out.push(at(
                Severity::Warning,
                codes::DIRECTORY_VOLUME,
                v,
                format!(
                    "UserVolumeConfig {} has volumeType: directory: it is a folder on the EPHEMERAL partition, so Longhorn's replicas there share the system disk and are wiped by a node reset; use a partition or a whole disk for Longhorn data",
                    v.value.name
                ),
                Some(user_volume_document(&yaml_str(&v.value.name), Some("partition"))),
            ));
        }
    }
}

fn check_pod_security(config: &MachineConfig, options: &LintOptions, out: &mut Vec<Finding>) {
    let Some(ps) = config.effective_pod_security() else {
        return;
    };
    let ns = &options.longhorn_namespace;
    let enforce = ps.value.enforce.as_deref().unwrap_or("privileged");
    if enforce == "privileged" || ps.value.exempt_namespaces.iter().any(|n| n == ns) {
        return;
    }
    let exempt = if ps.value.exempt_namespaces.is_empty() {
        "none".to_string()
    } else {
        ps.value.exempt_namespaces.join(", ")
    };
    out.push(at(
        Severity::Warning,
        codes::POD_SECURITY,
        ps,
        format!(
            "the PodSecurity admission configuration enforces {enforce:?} on every namespace without its own label and exempts only [{exempt}]: Longhorn's pods in {ns} are privileged and use hostPath volumes, which {enforce} forbids; the namespace needs the privileged labels (longhorn-talos-guard's webhook adds them when the namespace is created), or add {ns} to the exemptions"
        ),
        Some(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n    pod-security.kubernetes.io/enforce-version: latest\n    pod-security.kubernetes.io/audit: privileged\n    pod-security.kubernetes.io/audit-version: latest\n    pod-security.kubernetes.io/warn: privileged\n    pod-security.kubernetes.io/warn-version: latest\n"
        )),
    ));
}

fn module_key(name: &str) -> String {
    // The kernel treats '-' and '_' in module names alike.
    name.replace('-', "_")
}

fn check_v2(config: &MachineConfig, options: &LintOptions, out: &mut Vec<Finding>) {
    let why = if options.v2 {
        "the V2 data engine (--v2)".to_string()
    } else if let Some(raw) = config.raw_volumes.first() {
        format!(
            "the V2 data engine (implied by RawVolumeConfig {}, a raw partition for a Longhorn block disk)",
            raw.value
        )
    } else {
        return;
    };
    let docs = config.uses_documents();
    v2_hugepages(config, &why, docs, out);
    v2_modules(config, &why, docs, out);
}

/// V2: the 2 MiB hugepages the sysctl (or, without it, the kernel
/// arguments) reserves.
fn v2_hugepages(config: &MachineConfig, why: &str, docs: bool, out: &mut Vec<Finding>) {
    let hugepages_fix = hugepages_patch(MIN_HUGEPAGES, docs);
    let need = format!(
        "{why} needs at least {MIN_HUGEPAGES} hugepages of 2 MiB (2 GiB, Longhorn's data-engine-memory-size default)"
    );
    // The sysctl resizes the pool at runtime, so when it is set it decides;
    // otherwise the pages reserved by kernel arguments at boot count.
    match config.sysctl("vm.nr_hugepages") {
        None => match config.boot_hugepages_2m() {
            Some((_, Some(n))) if n >= MIN_HUGEPAGES => {}
            Some((arg, count)) => out.push(at(
                Severity::Error,
                codes::HUGEPAGES,
                arg,
                match count {
                    Some(n) => format!(
                        "{need}, and vm.nr_hugepages is not set while the kernel argument {:?} reserves only {n}",
                        arg.value
                    ),
                    None => format!(
                        "{need}, and vm.nr_hugepages is not set while the kernel argument {:?} does not give a number of pages",
                        arg.value
                    ),
                },
                Some(hugepages_fix),
            )),
            None => out.push(at_config(
                config,
                Severity::Error,
                codes::HUGEPAGES,
                format!(
                    "{need}, and vm.nr_hugepages is not set in machine.sysctls or a SysctlConfig document, nor reserved by a hugepages= kernel argument"
                ),
                Some(hugepages_fix),
            )),
        },
        Some(v) => match sysctl_ulong(&v.value) {
            Some((n, _)) if n >= MIN_HUGEPAGES => {}
            Some((n, radix)) => {
                let read = match radix {
                    Radix::Decimal => format!("{n}"),
                    Radix::Hex => format!("{:?}, which the kernel reads as hexadecimal: {n}", v.value),
                    Radix::Octal => format!("{:?}, which the kernel reads as octal (a leading 0): {n}", v.value),
                };
                out.push(at(
                    Severity::Error,
                    codes::HUGEPAGES,
                    v,
                    format!("{need}, and vm.nr_hugepages is {read}; Longhorn cannot run V2 volumes on this node"),
                    Some(hugepages_fix),
                ));
            }
            None => out.push(at(
                Severity::Error,
                codes::HUGEPAGES,
                v,
                format!("{need}, and vm.nr_hugepages is {:?}, which the kernel refuses as a number (Talos writes the value unchanged to /proc/sys/vm/nr_hugepages)", v.value),
                Some(hugepages_fix),
            )),
        },
    }
}

/// V2: the kernel modules that hand NVMe disks to SPDK.
fn v2_modules(config: &MachineConfig, why: &str, docs: bool, out: &mut Vec<Finding>) {
    let loaded: Vec<String> = config
        .all_kernel_modules()
        .map(|m| module_key(&m.value))
        .collect();
    let has = |m: &str| loaded.contains(&module_key(m));
    let module_fix = |missing: &[&str]| modules_patch(missing, docs);
    // uio_pci_generic is the guide's alternative to vfio_pci: without
    // vfio_pci but with it, SPDK still gets the disks (a warning, below).
    // nvme_tcp is built into Talos's kernel: never missing.
    let missing: Vec<&str> = v2_modules_to_load()
        .into_iter()
        .filter(|m| !(has(m) || (*m == "vfio_pci" && has(UIO_PCI_GENERIC))))
        .collect();
    if !missing.is_empty() {
        out.push(at_config(
            config,
            Severity::Error,
            codes::KERNEL_MODULES,
            format!(
                "{why} needs the kernel module vfio_pci (or uio_pci_generic, the Talos guide's alternative) to hand NVMe disks to SPDK, and the config loads neither (nvme_tcp, which the guide also lists, is built into Talos's kernel: it needs no entry); not loaded: {}",
                missing.join(", ")
            ),
            Some(module_fix(&missing)),
        ));
    }
    if !has("vfio_pci") && has(UIO_PCI_GENERIC) {
        out.push(at_config(
            config,
            Severity::Warning,
            codes::UIO_INSTEAD_OF_VFIO,
            format!(
                "{why} loads uio_pci_generic but not vfio_pci: Longhorn's Talos guide offers uio_pci_generic as the alternative driver for handing NVMe disks to SPDK, so this works, but vfio_pci is the one the guide loads first (it isolates the device with the IOMMU); load vfio_pci too"
            ),
            Some(module_fix(&["vfio_pci"])),
        ));
    }
    if !has(UIO_PCI_GENERIC) {
        out.push(at_config(
            config,
            Severity::Warning,
            codes::ENVIRONMENT_CHECK_UIO,
            format!(
                "{why} does not load uio_pci_generic: the Talos guide calls it optional, but Longhorn's own environment check looks for vfio_pci, uio_pci_generic and nvme_tcp and sets the node condition KernelModulesLoaded=False (reason KernelModulesNotLoaded) until each is loaded or built in; nvme_tcp is built into Talos's kernel and counts as present, while vfio_pci and uio_pci_generic are modules that the machine config must load (Talos ships uio_pci_generic since 1.8)"
            ),
            Some(module_fix(&[UIO_PCI_GENERIC])),
        ));
    }
}

/// The SPDK driver Longhorn's Talos guide offers next to vfio_pci.
const UIO_PCI_GENERIC: &str = "uio_pci_generic";

/// A Talos release read off an installer tag: (minor, patch, pre-release).
fn talos_release(image: &str) -> Option<(u32, u32, String)> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let tag = last.split_once(':')?.1;
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let (version, pre) = tag.split_once('-').unwrap_or((tag, ""));
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    Some((minor, patch, pre.to_string()))
}

fn check_iscsi(config: &MachineConfig, out: &mut Vec<Finding>) {
    let Some(image) = &config.install_image else {
        return;
    };
    // A schematic without iscsi-tools gets LTG-T001 instead.
    if config
        .schematic
        .as_ref()
        .is_some_and(|s| !s.value.iter().any(|e| e == "siderolabs/iscsi-tools"))
    {
        return;
    }
    let Some((minor, patch, pre)) = talos_release(&image.value) else {
        return;
    };
    let release = if pre.is_empty() {
        format!("1.{minor}.{patch}")
    } else {
        format!("1.{minor}.{patch}-{pre}")
    };
    // Releases outside the table are older (2.1.11 or earlier) or newer than
    // the last tag read, whose iscsi-tools carry the compatibility patch.
    if !upstream::iscsi_tools_of(&release).is_some_and(|t| t.breaks_attach()) {
        return;
    }
    let line = format!("1.{minor}.");
    let patched: Vec<&str> = upstream::iscsi_patched_releases().collect();
    let instead = patched
        .iter()
        .find(|r| r.starts_with(&line))
        .or(patched.last())
        .copied()
        .unwrap_or("1.13.7");
    out.push(at(
        Severity::Error,
        codes::OPEN_ISCSI_2_1_12,
        image,
        format!(
            "the installer image is Talos {release}, whose siderolabs/iscsi-tools has open-iscsi 2.1.12 without the compatibility patch (only Talos {broken} ship it): its iscsiadm refuses the node records other open-iscsi versions wrote (`iSCSI ERROR: Unknown parameter name node.session.conn_reopen_log_freq`, siderolabs/extensions#1182, longhorn/longhorn#13733) and Longhorn's volumes stop attaching; install a later release instead (from Talos {fixed} on, 2.1.12 is patched to read both parameter names). A node that already ran {release} keeps the records it wrote in /var/lib/iscsi/nodes/ on EPHEMERAL through upgrades and downgrades; Talos 1.13.7 or older (open-iscsi 2.1.11) cannot read them: if volumes still do not attach, delete those records, the fix reported in siderolabs/extensions#1182",
            broken = upstream::iscsi_breaking_text(),
            fixed = upstream::iscsi_patched_text(),
        ),
        Some(format!(
            "# an installer of a Talos release whose open-iscsi is patched, e.g.:\nmachine:\n  install:\n    image: factory.talos.dev/installer/<schematic>:v{instead}\n"
        )),
    ));
}

/// A multipath.conf `blacklist { ... }` section with Longhorn's devnode rule.
fn blacklists_longhorn_devices(conf: &str) -> bool {
    let mut rest = conf;
    while let Some(at) = rest.find("blacklist") {
        let after = &rest[at + "blacklist".len()..];
        let trimmed = after.trim_start();
        if let Some(body) = trimmed.strip_prefix('{') {
            let section = body.split('}').next().unwrap_or(body);
            if section.lines().any(|l| {
                let l = l.trim();
                l.starts_with("devnode")
                    && l.trim_start_matches("devnode")
                        .trim()
                        .trim_matches(['"', '\''])
                        == "^sd[a-z0-9]+"
            }) {
                return true;
            }
        }
        rest = after;
    }
    false
}

fn check_multipath(config: &MachineConfig, out: &mut Vec<Finding>) {
    const EXTENSION: &str = "siderolabs/multipath-tools";
    let extension = config
        .schematic
        .as_ref()
        .filter(|s| s.value.iter().any(|e| e == EXTENSION))
        .map(|s| {
            (
                s.origin.clone(),
                s.line,
                "the schematic lists siderolabs/multipath-tools",
            )
        });
    let module = config
        .all_kernel_modules()
        .find(|m| module_key(&m.value) == "dm_multipath")
        .map(|m| {
            (
                m.origin.clone(),
                m.line,
                "the kernel module dm_multipath is loaded",
            )
        });
    let Some((origin, line, what)) = extension.or(module) else {
        return;
    };
    if config
        .multipath_conf
        .as_ref()
        .is_some_and(|c| blacklists_longhorn_devices(&c.value))
    {
        return;
    }
    let conf = match &config.multipath_conf {
        Some(_) => {
            "its /etc/multipath.conf (ExtensionServiceConfig multipathd) has no blacklist for them"
        }
        None => {
            "no ExtensionServiceConfig multipathd gives it an /etc/multipath.conf with a blacklist for them"
        }
    };
    out.push(Finding {
        line: Some(line),
        ..at_document(
            Severity::Warning,
            codes::MULTIPATH,
            &origin,
            format!(
                "{what}: multipathd claims the iSCSI disks of Longhorn's volumes (/dev/sdX) and their mounts fail, and Longhorn sets the node condition Multipathd=False (reason MultipathdIsRunning); {conf}; add a blacklist for devnode \"^sd[a-z0-9]+\" (or drop multipath if nothing else needs it)"
            ),
            Some("apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: multipathd\nconfigFiles:\n  - mountPath: /etc/multipath.conf\n    content: |\n      blacklist {\n          devnode \"^sd[a-z0-9]+\"\n      }\n".to_string()),
        )
    });
}

/// The role the guard's `talos.dev` ServiceAccount asks for.
const READER_ROLE: &str = "os:reader";

/// Talos creates the Secret of a `talos.dev` ServiceAccount only when the
/// control plane's config allows its namespace (exact match) and every role
/// it asks for (exact match in the allowed set), else it writes "Namespace is
/// not allowed" or "Roles not allowed" in its status (siderolabs/talos
/// `internal/app/machined/pkg/controllers/kubeaccess/serviceaccount/crd_controller.go`,
/// v1.14.0-rc.1). The config is read on control planes only
/// (`kubeaccess/config.go`: `Machine().Type().IsControlPlane()`), the
/// `KubeTalosAPIAccessConfig` document first, else the machine.features
/// entry when `enabled` (pkg/machinery `config/container/container.go`
/// `K8sTalosAPIAccessConfig`, `v1alpha1_k8s_bridge.go`, v1.14.1).
fn check_talos_api_access(config: &MachineConfig, namespace: &str, out: &mut Vec<Finding>) {
    if config
        .machine_type
        .as_ref()
        .is_some_and(|t| !matches!(t.value.as_str(), "controlplane" | "init"))
    {
        // A worker's config is not read for this: nothing to say about it.
        return;
    }
    let document = config.talos_api_access_document.as_ref();
    let legacy = config.talos_api_access.as_ref();
    let present = document.or(legacy);
    let enabled = document.is_some() || legacy.is_some_and(|a| a.value.enabled);
    let role_ok = present.is_some_and(|a| a.value.allowed_roles.iter().any(|r| r == READER_ROLE));
    let namespace_ok =
        present.is_some_and(|a| a.value.allowed_namespaces.iter().any(|n| n == namespace));
    if enabled && role_ok && namespace_ok {
        return;
    }
    // Talos merges a patch's lists by appending: the fix names only what is
    // missing.
    let mut add = Vec::new();
    if !role_ok {
        add.push(("allowedRoles", READER_ROLE));
    }
    if !namespace_ok {
        add.push(("allowedKubernetesNamespaces", namespace));
    }
    let fields = |indent: &str| {
        add.iter()
            .map(|(key, value)| format!("{indent}{key}:\n{indent}  - {}\n", yaml_str(value)))
            .collect::<String>()
    };
    // Talos 1.14 deprecates the machine.features entry for the document; a
    // config that already has one of the two keeps its form (both together
    // are refused: `V1Alpha1ConflictValidate`).
    let as_document = document.is_some()
        || (legacy.is_none()
            && config.talos_version().is_some_and(|v| {
                v >= TalosVersion {
                    major: 1,
                    minor: 14,
                }
            }));
    let fix = if as_document {
        format!(
            "apiVersion: v1alpha1\nkind: KubeTalosAPIAccessConfig\n{}",
            fields("")
        )
    } else {
        format!(
            "machine:\n  features:\n    kubernetesTalosAPIAccess:\n      enabled: true\n{}",
            fields("      ")
        )
    };
    let mut why = Vec::new();
    match present {
        None => why.push(
            "neither a KubeTalosAPIAccessConfig document nor machine.features.kubernetesTalosAPIAccess enables Talos API access from Kubernetes"
                .to_string(),
        ),
        Some(_) => {
            if !enabled {
                why.push(
                    "machine.features.kubernetesTalosAPIAccess is not enabled (enabled: true)"
                        .to_string(),
                );
            }
            if !role_ok {
                why.push(format!(
                    "allowedRoles does not include {READER_ROLE} (Talos answers \"Roles not allowed: [{READER_ROLE}]\")"
                ));
            }
            if !namespace_ok {
                why.push(format!(
                    "allowedKubernetesNamespaces does not include {namespace} (Talos answers \"Namespace is not allowed: {namespace}\")"
                ));
            }
        }
    }
    let message = format!(
        "the guard in namespace {namespace} cannot read the nodes through the Talos API: {}; Talos then creates no Secret for its talos.dev ServiceAccount; apply the fix to every control-plane node",
        why.join(", and ")
    );
    out.push(match present {
        Some(a) => at(
            Severity::Error,
            codes::TALOS_API_ACCESS,
            a,
            message,
            Some(fix),
        ),
        None => at_config(
            config,
            Severity::Error,
            codes::TALOS_API_ACCESS,
            message,
            Some(fix),
        ),
    });
}

fn check_upgrade(config: &MachineConfig, out: &mut Vec<Finding>) {
    let (Some(image), Some(version)) = (&config.install_image, config.talos_version()) else {
        return;
    };
    if version < (TalosVersion { major: 1, minor: 8 }) {
        out.push(at(
            Severity::Note,
            codes::UPGRADE_PRESERVE,
            image,
            format!(
                "the installer image is Talos {version}: before Talos 1.8, `talosctl upgrade` without --preserve wipes {LONGHORN_DATA_PATH} and the Longhorn replicas in it; pass --preserve on every upgrade until the nodes run 1.8 or later"
            ),
            Some("# shell, not YAML:\n# talosctl upgrade --nodes <node> --image <installer image> --preserve\n".to_string()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        assert!(is_valid_volume_name("longhorn"));
        assert!(is_valid_volume_name("Longhorn-1"));
        assert!(is_valid_volume_name(&"a".repeat(34)));
        assert!(!is_valid_volume_name(&"a".repeat(35)));
        assert!(!is_valid_volume_name(""));
        assert!(!is_valid_volume_name("long_horn"));
        assert!(!is_valid_volume_name("long/horn"));
        assert!(!is_valid_volume_name("longhorn."));
    }

    #[test]
    fn suggested_volume_names_are_valid() {
        assert_eq!(suggest_volume_name("longhorn_data"), "longhorn-data");
        assert_eq!(suggest_volume_name(""), "longhorn");
        assert_eq!(suggest_volume_name("__"), "longhorn");
        let long = suggest_volume_name(&"x".repeat(50));
        assert_eq!(long.len(), 34);
        for n in ["longhorn_data", "", "a.b/c", &"x".repeat(50)] {
            assert!(is_valid_volume_name(&suggest_volume_name(n)), "{n}");
        }
    }

    #[test]
    fn extension_names_from_images() {
        assert_eq!(
            extension_name("ghcr.io/siderolabs/iscsi-tools:v0.1.4"),
            "siderolabs/iscsi-tools"
        );
        assert_eq!(
            extension_name("ghcr.io/siderolabs/util-linux-tools:2.39@sha256:abc"),
            "siderolabs/util-linux-tools"
        );
        assert_eq!(
            extension_name("localhost:5000/siderolabs/iscsi-tools"),
            "siderolabs/iscsi-tools"
        );
        assert_eq!(
            extension_name("siderolabs/iscsi-tools:v1"),
            "siderolabs/iscsi-tools"
        );
    }

    #[test]
    fn yaml_quoting() {
        assert_eq!(yaml_str("/var/lib/longhorn"), "/var/lib/longhorn");
        assert_eq!(yaml_str("a: b"), "\"a: b\"");
        assert_eq!(yaml_str("-x"), "\"-x\"");
        assert_eq!(yaml_str(""), "\"\"");
    }

    #[test]
    fn exit_codes() {
        let f = |severity| Finding {
            severity,
            code: codes::NOT_RW,
            file: "f".into(),
            line: None,
            document: None,
            message: "m".into(),
            fix: None,
        };
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(&[f(Severity::Warning), f(Severity::Note)]), 0);
        assert_eq!(exit_code(&[f(Severity::Note), f(Severity::Error)]), 1);
    }
}
