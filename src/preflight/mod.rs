//! `talos preflight`: what a Talos node really is, read through the Talos API
//! (facts), judged against Longhorn's Talos guide (findings `LTG-P...`).
//! [`read`] does the I/O, [`check`] is pure, [`words`] holds every sentence.

mod account;
mod check;
pub mod read;
mod words;

use serde::Deserialize;

pub use crate::talos::api::ServiceState;

pub use account::{account_missing, account_refused, api_access_patch, no_talosconfig};
pub use check::{Options, check};
pub use read::{ReadOptions, read_nodes};

/// The stable finding codes of `talos preflight`, and their catalogue
/// ([`codes::CATALOGUE`], part of [`crate::catalogue`]; the README's table is
/// checked against it).
pub mod codes {
    /// The node cannot be read.
    pub const UNREADABLE: &str = "LTG-P000";
    /// A required extension is not installed.
    pub const MISSING_EXTENSIONS: &str = "LTG-P001";
    /// open-iscsi 2.1.12 without the compatibility patch.
    pub const OPEN_ISCSI_2_1_12: &str = "LTG-P002";
    /// ext-iscsid is not running.
    pub const ISCSID: &str = "LTG-P003";
    /// ext-multipathd is running.
    pub const MULTIPATHD: &str = "LTG-P004";
    /// V2: no module to hand NVMe disks to SPDK.
    pub const V2_MODULES: &str = "LTG-P010";
    /// V2: uio_pci_generic not live.
    pub const V2_UIO: &str = "LTG-P011";
    /// V2: too few hugepages reserved.
    pub const V2_HUGEPAGES: &str = "LTG-P012";
    /// A disk path's user volume failed or is not ready.
    pub const VOLUME_FAILED: &str = "LTG-P020";
    /// A disk path under /var/mnt with no volume.
    pub const NO_VOLUME: &str = "LTG-P021";
    /// A disk path's volume is a directory.
    pub const DIRECTORY_VOLUME: &str = "LTG-P022";
    /// A disk path on EPHEMERAL.
    pub const ON_EPHEMERAL: &str = "LTG-P023";
    /// A check skipped.
    pub const SKIPPED: &str = "LTG-P030";
    /// The guard's talos.dev ServiceAccount is refused or absent.
    pub const ACCOUNT_REFUSED: &str = "LTG-P040";
    /// No usable talosconfig in the cluster.
    pub const NO_TALOSCONFIG: &str = "LTG-P041";

    use crate::talos::Severity;

    /// Every code with its severity and meaning.
    pub const CATALOGUE: [(&str, Severity, &str); 15] = [
        (
            UNREADABLE,
            Severity::Error,
            "The node cannot be read (endpoint or node unreachable, certificate refused).",
        ),
        (
            MISSING_EXTENSIONS,
            Severity::Error,
            "`siderolabs/iscsi-tools` or `siderolabs/util-linux-tools` is not installed on the node.",
        ),
        (
            OPEN_ISCSI_2_1_12,
            Severity::Error,
            "The node runs a Talos whose iscsi-tools ships open-iscsi 2.1.12 without the compatibility patch.",
        ),
        (ISCSID, Severity::Error, "`ext-iscsid` is not running."),
        (
            MULTIPATHD,
            Severity::Warning,
            "`ext-multipathd` is running (Longhorn's `Multipathd` condition); says whether Talos wrote it a configuration.",
        ),
        (
            V2_MODULES,
            Severity::Error,
            "V2: neither `vfio_pci` nor `uio_pci_generic` is live.",
        ),
        (
            V2_UIO,
            Severity::Warning,
            "V2: `uio_pci_generic` is not live (Longhorn's environment check asks for it).",
        ),
        (
            V2_HUGEPAGES,
            Severity::Error,
            "V2: the kernel reserved fewer 2 MiB hugepages than the V2 data engine needs.",
        ),
        (
            VOLUME_FAILED,
            Severity::Error,
            "A disk path's user volume failed (or is not ready); Talos's error is quoted.",
        ),
        (
            NO_VOLUME,
            Severity::Warning,
            "A disk path under `/var/mnt/<name>` has no volume behind it: a folder on EPHEMERAL.",
        ),
        (
            DIRECTORY_VOLUME,
            Severity::Warning,
            "A disk path's user volume is of type `directory` (on EPHEMERAL).",
        ),
        (
            ON_EPHEMERAL,
            Severity::Note,
            "A disk path outside `/var/mnt` sits on EPHEMERAL (the default `/var/lib/longhorn`).",
        ),
        (
            SKIPPED,
            Severity::Note,
            "A check was skipped: the certificate's role or the node's Talos does not give the fact.",
        ),
        (
            ACCOUNT_REFUSED,
            Severity::Error,
            "In the cluster: Talos refuses the guard's `talos.dev` ServiceAccount (its status), or it does not exist.",
        ),
        (
            NO_TALOSCONFIG,
            Severity::Error,
            "In the cluster: the guard has no usable talosconfig (the ServiceAccount's Secret not mounted or unusable).",
        ),
    ];
}

/// Why a fact is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The certificate's roles do not allow reading it; Talos's words.
    Refused(String),
    /// The node's Talos has no such resource or call; Talos's words.
    Unsupported(String),
    /// Any other failure.
    Failed(String),
}

/// A fact read from a node, or why not.
pub type Fact<T> = Result<T, Missing>;

/// An installed system extension (`ExtensionStatuses.runtime.talos.dev`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// `metadata.name` (`iscsi-tools`).
    pub name: String,
    /// `metadata.version`.
    pub version: String,
}

/// A running service (`Services.v1alpha1.talos.dev`: it exists only while it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The id (`ext-iscsid`).
    pub id: String,
    /// `running`.
    pub running: bool,
}

/// A kernel module and its state (`KernelModuleStatuses` from Talos 1.14,
/// `LoadedKernelModules` before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The module's name (the resource id).
    pub name: String,
    /// `state`: `live`, `loading`, `unloading`, `built-in`.
    pub state: String,
}

/// A volume (`VolumeStatuses.block.talos.dev`), the fields `talosctl get -o yaml` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    /// The id (`EPHEMERAL`, `u-<name>`), not in the spec.
    #[serde(skip)]
    pub id: String,
    /// `phase`.
    pub phase: String,
    /// `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `location`.
    pub location: String,
    /// `parentLocation`.
    pub parent_location: String,
    /// `size` in bytes.
    pub size: u64,
    /// `prettySize`.
    pub pretty_size: String,
    /// `filesystem`.
    pub filesystem: String,
    /// `errorMessage`.
    pub error_message: String,
}

/// A mount (`MountStatuses.block.talos.dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Mount {
    /// The id (`u-<name>` for a user volume), not in the spec.
    #[serde(skip)]
    pub id: String,
    /// `target`.
    pub target: String,
    /// `source`.
    pub source: String,
    /// `filesystem`.
    pub filesystem: String,
}

/// The hugepages of a node: what Talos was asked for and what the kernel reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hugepages {
    /// `KernelParamStatus proc.sys.vm.nr_hugepages` `current` (what Talos
    /// wrote), `None` when Talos wrote nothing.
    pub asked: Option<String>,
    /// `MachineService/Memory` `hugepagestotal`.
    pub reserved: u64,
    /// `hugepagesize` in kiB.
    pub size_kib: u64,
}

/// Everything read from one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The node as addressed (`node` metadata).
    pub node: String,
    /// The Talos version (`v1.14.1`), or why it could not be read: then
    /// nothing else was read.
    pub version: Fact<String>,
    /// Installed extensions.
    pub extensions: Fact<Vec<Extension>>,
    /// Running services.
    pub services: Fact<Vec<Service>>,
    /// `ext-iscsid`'s state and events (`MachineService/ServiceList`), read
    /// when it is not running.
    pub iscsid: Option<Fact<ServiceState>>,
    /// Whether Talos wrote a configuration for the multipath-tools extension
    /// (`ExtensionServiceConfigStatuses` `multipathd` exists), read when
    /// `ext-multipathd` runs.
    pub multipath_config: Option<Fact<bool>>,
    /// Kernel modules.
    pub modules: Fact<Vec<Module>>,
    /// Hugepages (read with `--v2`).
    pub hugepages: Option<Fact<Hugepages>>,
    /// Volumes.
    pub volumes: Fact<Vec<Volume>>,
    /// Mounts.
    pub mounts: Fact<Vec<Mount>>,
    /// The running machine config (with `--read-config`).
    pub machine_config: Option<Fact<String>>,
}
