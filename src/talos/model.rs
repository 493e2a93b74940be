//! The merged view of a Talos machine config: only what the checks read, each
//! value tagged with the file, document and line it came from.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Where a document sits in the inputs: the file, its position in the
/// stream, its kind and name. Findings and derived mounts carry one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentRef {
    /// The input's file name, as given to [`crate::talos::load`].
    pub file: String,
    /// 1-based position among the file's non-empty documents (empty
    /// documents, such as a stray `---`, are not counted).
    pub index: usize,
    /// The document's kind: `v1alpha1` for the legacy `version: v1alpha1`
    /// document, `Schematic` for an Image Factory schematic, else its `kind`.
    pub kind: String,
    /// The `name` of a named kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The 1-based line the document's first key is on.
    pub line: u64,
    /// True when the document is not a Talos one and is not read: a `kind`
    /// under an apiVersion other than `v1alpha1` (a Kubernetes manifest), or
    /// a mapping with none of `kind`, `version`, `machine`, `cluster`,
    /// `customization`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub foreign: bool,
}

impl fmt::Display for DocumentRef {
    /// `file (document N, Kind name)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {}, {}", self.file, self.index, self.kind)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        f.write_str(")")
    }
}

/// A value with the document and line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// The document it came from.
    pub origin: DocumentRef,
    /// The 1-based line of the value itself (the document's line when unknown).
    pub line: u64,
}

/// One `machine.kubelet.extraMounts` entry as written (fields may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    /// `destination`: the path inside the kubelet container.
    pub destination: Option<String>,
    /// `source`: the host path.
    pub source: Option<String>,
    /// `type` (`bind` in Longhorn's guide).
    pub mount_type: Option<String>,
    /// `options`, e.g. `[bind, rshared, rw]`.
    pub options: Vec<String>,
}

impl ExtraMount {
    /// True when `options` holds `opt` exactly.
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt)
    }
}

/// The kinds of volume Talos mounts at `/var/mnt/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum VolumeKind {
    /// `UserVolumeConfig` (Talos 1.10+).
    UserVolumeConfig,
    /// `ExistingVolumeConfig` (Talos 1.11+).
    ExistingVolumeConfig,
    /// `ExternalVolumeConfig` (Talos 1.13+).
    ExternalVolumeConfig,
}

impl VolumeKind {
    /// The document kind.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::UserVolumeConfig => "UserVolumeConfig",
            VolumeKind::ExistingVolumeConfig => "ExistingVolumeConfig",
            VolumeKind::ExternalVolumeConfig => "ExternalVolumeConfig",
        }
    }

    pub(crate) fn from_kind(kind: &str) -> Option<VolumeKind> {
        match kind {
            "UserVolumeConfig" => Some(VolumeKind::UserVolumeConfig),
            "ExistingVolumeConfig" => Some(VolumeKind::ExistingVolumeConfig),
            "ExternalVolumeConfig" => Some(VolumeKind::ExternalVolumeConfig),
            _ => None,
        }
    }
}

impl fmt::Display for VolumeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A volume Talos mounts at `/var/mnt/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Which document kind declared it.
    pub kind: VolumeKind,
    /// Its `name`.
    pub name: String,
    /// `volumeType` of a `UserVolumeConfig` (`partition` when absent).
    pub volume_type: Option<String>,
}

impl Volume {
    /// Where Talos mounts it.
    pub fn mount_point(&self) -> String {
        format!("/var/mnt/{}", self.name)
    }
}

/// The parts of a `PodSecurityConfiguration` the lint reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurity {
    /// `defaults.enforce`; the API server takes `privileged` when absent.
    pub enforce: Option<String>,
    /// `exemptions.namespaces`.
    pub exempt_namespaces: Vec<String>,
}

/// Who may reach the Talos API from inside the cluster: Talos 1.14's
/// `KubeTalosAPIAccessConfig` document, or before it
/// `machine.features.kubernetesTalosAPIAccess` (siderolabs/talos
/// pkg/machinery `config/types/k8s/talos_api_access.go` and
/// `config/types/v1alpha1/v1alpha1_types.go`, v1.14.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TalosApiAccess {
    /// `enabled` of the machine.features entry; the document has no such
    /// field, its presence enables access (`Container.K8sTalosAPIAccessConfig`).
    pub enabled: bool,
    /// `allowedRoles` (empty: access blocked).
    pub allowed_roles: Vec<String>,
    /// `allowedKubernetesNamespaces`.
    pub allowed_namespaces: Vec<String>,
}

/// A Talos version read from the config (an installer image tag `vX.Y.Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TalosVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl TalosVersion {
    /// Reads `v1.7.6` (optionally without `v`, with a pre-release suffix).
    pub fn parse_tag(tag: &str) -> Option<TalosVersion> {
        let tag = tag.strip_prefix('v').unwrap_or(tag);
        let mut parts = tag.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(TalosVersion { major, minor })
    }

    /// Reads the tag of an installer image reference such as
    /// `ghcr.io/siderolabs/installer:v1.7.6` or
    /// `factory.talos.dev/installer/<schematic>:v1.10.3@sha256:...`.
    pub fn from_image(image: &str) -> Option<TalosVersion> {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        let (_, tag) = last.split_once(':')?;
        TalosVersion::parse_tag(tag)
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Several machine config files merged the way Talos merges patches.
///
/// Merge rules: those of Talos's `configpatcher` (talos pkg/machinery
/// v1.14.1), held against Talos's own code by tests/talos_oracle.rs:
/// - Documents are matched on apiVersion, kind and name; a later document
///   merges into the earlier one field by field; a zero value never
///   overwrites; lists are appended, except `cluster.apiServer.admissionControl`
///   (merged by plugin name, `configuration` deep-merged) and a few that are
///   replaced; `$patch: delete` removes keys, fields, list items (by their
///   first key) and documents; JSON6902 patches apply to single-document
///   configs.
/// - What Talos would refuse is listed in [`MachineConfig::refusals`] and not
///   read as if applied (a refused patch is skipped, a refused volume is no
///   data location, refused kernel arguments reserve no hugepages).
/// - Schematics are not part of the machine config: the last one given is
///   the image's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineConfig {
    /// The input file names, in order.
    pub inputs: Vec<String>,
    /// Every non-empty document read, in order, including kinds the checks ignore.
    pub documents: Vec<DocumentRef>,
    /// The last legacy `v1alpha1` document (or `machine:`/`cluster:` patch).
    pub legacy: Option<DocumentRef>,
    /// `machine.install.image`.
    pub install_image: Option<Sourced<String>>,
    /// `machine.install.extensions[].image`.
    pub install_extensions: Vec<Sourced<String>>,
    /// `machine.kubelet.extraMounts`.
    pub extra_mounts: Vec<Sourced<ExtraMount>>,
    /// `machine.sysctls`.
    pub sysctls: BTreeMap<String, Sourced<String>>,
    /// `machine.kernel.modules[].name`.
    pub kernel_modules: Vec<Sourced<String>>,
    /// The `PodSecurity` entry of `cluster.apiServer.admissionControl`.
    pub pod_security: Option<Sourced<PodSecurity>>,
    /// The `PodSecurity` entry of a `KubeAdmissionControlConfig` document.
    pub pod_security_document: Option<Sourced<PodSecurity>>,
    /// The `KubeletConfig` document, when there is one.
    pub kubelet_config: Option<DocumentRef>,
    /// `SysctlConfig.params`, merged across documents.
    pub sysctl_documents: BTreeMap<String, Sourced<String>>,
    /// `KernelModuleConfig` documents, by module name.
    pub kernel_module_documents: Vec<Sourced<String>>,
    /// User, existing and external volumes, in order of first appearance.
    pub volumes: Vec<Sourced<Volume>>,
    /// `RawVolumeConfig` names.
    pub raw_volumes: Vec<Sourced<String>>,
    /// Talos 1.14 system volumes (`VolumeConfig` named `ETCD`, `CRI`,
    /// `KUBELET` or `LOG`) put on a partition of their own: those whose
    /// `provisioning` sets a disk selector, `grow`, `minSize` or `maxSize`
    /// (without it Talos keeps them as folders on EPHEMERAL).
    pub system_volumes: Vec<Sourced<String>>,
    /// `workloadIsolation` of the `SecurityProfileConfig` document (Talos
    /// 1.14): `None` without the document, `false` when the document leaves
    /// it unset. `talosctl gen config` writes `true` for new 1.14 clusters.
    pub workload_isolation: Option<Sourced<bool>>,
    /// The official extensions of the last Image Factory schematic.
    pub schematic: Option<Sourced<Vec<String>>>,
    /// `machine.nodeLabels`, merged key by key.
    pub node_labels: BTreeMap<String, Sourced<String>>,
    /// `machine.nodeAnnotations`, merged key by key.
    pub node_annotations: BTreeMap<String, Sourced<String>>,
    /// `machine.install.extraKernelArgs`, appended across patches.
    pub install_kernel_args: Vec<Sourced<String>>,
    /// `customization.extraKernelArgs` of the last schematic.
    pub schematic_kernel_args: Vec<Sourced<String>>,
    /// The `/etc/multipath.conf` of the `ExtensionServiceConfig` named
    /// `multipathd` (the multipath-tools extension's configuration).
    pub multipath_conf: Option<Sourced<String>>,
    /// `machine.type` (`controlplane`, `init`, `worker`) when written.
    pub machine_type: Option<Sourced<String>>,
    /// `machine.features.kubernetesTalosAPIAccess`.
    pub talos_api_access: Option<Sourced<TalosApiAccess>>,
    /// The `KubeTalosAPIAccessConfig` document (Talos 1.14); it wins over
    /// the machine.features entry.
    pub talos_api_access_document: Option<Sourced<TalosApiAccess>>,
    /// `machine.install.grubUseUKICmdline: true` (Talos 1.12+ generated configs).
    pub grub_uki_cmdline: Option<Sourced<()>>,
    /// Why Talos would refuse this config (its own reason), each at the
    /// document and line it is about: a patch it cannot load or apply, an
    /// unknown key, a rule of its validation. What Talos would refuse is not
    /// read as if it were applied.
    pub refusals: Vec<Sourced<String>>,
}

impl MachineConfig {
    /// The Talos version the installer image names, if it names one.
    pub fn talos_version(&self) -> Option<TalosVersion> {
        self.install_image
            .as_ref()
            .and_then(|i| TalosVersion::from_image(&i.value))
    }

    /// True when some input holds a machine config document (not only schematics).
    pub fn has_machine_config(&self) -> bool {
        self.documents
            .iter()
            .any(|d| !d.foreign && d.kind != SCHEMATIC_KIND)
    }

    /// The effective `vm.nr_hugepages`-style sysctl: a `SysctlConfig`
    /// document wins over `machine.sysctls` (Talos 1.14's rule for
    /// a deprecated field next to its replacement document).
    pub fn sysctl(&self, key: &str) -> Option<&Sourced<String>> {
        self.sysctl_documents
            .get(key)
            .or_else(|| self.sysctls.get(key))
    }

    /// The kernel argument that reserves 2 MiB hugepages at boot, with the
    /// number it reserves (`None` when that is not a count). Reads
    /// `machine.install.extraKernelArgs`, then the schematic's
    /// `extraKernelArgs`, the way the kernel does: `hugepages=N` applies to the
    /// size named by the `hugepagesz=` before it, else to the default size
    /// (`default_hugepagesz=`, else 2 MiB); the first one for a size counts.
    pub fn boot_hugepages_2m(&self) -> Option<(&Sourced<String>, Option<u64>)> {
        const TWO_MIB: u64 = 2 * 1024 * 1024;
        let args = || {
            self.install_kernel_args
                .iter()
                .chain(&self.schematic_kernel_args)
                .flat_map(|a| a.value.split_whitespace().map(move |w| (a, w)))
        };
        let default_size = args()
            .find_map(|(_, w)| w.strip_prefix("default_hugepagesz="))
            .map_or(Some(TWO_MIB), memparse);
        let mut size = default_size;
        for (arg, word) in args() {
            if let Some(s) = word.strip_prefix("hugepagesz=") {
                size = memparse(s);
            } else if let Some(n) = word.strip_prefix("hugepages=")
                && size == Some(TWO_MIB)
            {
                return Some((arg, hugepage_count(n)));
            }
        }
        None
    }

    /// Every kernel module to load, from `machine.kernel.modules` and
    /// `KernelModuleConfig` documents.
    pub fn all_kernel_modules(&self) -> impl Iterator<Item = &Sourced<String>> {
        self.kernel_modules
            .iter()
            .chain(self.kernel_module_documents.iter())
    }

    /// The PodSecurity configuration in force: the document's when present.
    pub fn effective_pod_security(&self) -> Option<&Sourced<PodSecurity>> {
        self.pod_security_document
            .as_ref()
            .or(self.pod_security.as_ref())
    }

    /// True when the config is written in the document style of Talos 1.14
    /// (a `KubeletConfig`, `SysctlConfig` or `KernelModuleConfig` document).
    pub fn uses_documents(&self) -> bool {
        self.kubelet_config.is_some()
            || !self.sysctl_documents.is_empty()
            || !self.kernel_module_documents.is_empty()
            || self
                .documents
                .iter()
                .any(|d| d.kind == "SysctlConfig" || d.kind == "KernelModuleConfig")
    }
}

/// A kernel command-line size (`2M`, `2048k`, `1G`, `2097152`) in bytes.
fn memparse(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The value of `hugepages=`: a count, or per NUMA node `0:512,1:512` (summed).
fn hugepage_count(s: &str) -> Option<u64> {
    if !s.contains(':') {
        return s.parse().ok();
    }
    s.split(',').try_fold(0u64, |sum, pair| {
        let (_node, n) = pair.split_once(':')?;
        sum.checked_add(n.parse().ok()?)
    })
}

/// The kind name given to Image Factory schematics.
pub const SCHEMATIC_KIND: &str = "Schematic";
/// The kind name given to the legacy `version: v1alpha1` document.
pub const LEGACY_KIND: &str = "v1alpha1";
