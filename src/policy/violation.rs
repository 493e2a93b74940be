//! What a rule found, as data: the field, the value and what is wrong with
//! it, with everything the message and the fix need. No sentences here:
//! [`crate::policy::render`] writes them.

use crate::base::Level;

/// One problem a rule found on the object under review.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The field, as a path in the object (`spec.disks.fast.path`).
    pub field: String,
    /// The value found there (empty when the field is absent).
    pub value: String,
    /// What is wrong, with the data the message and the fix need.
    pub problem: Problem,
    /// True when the problem was there before this request (an UPDATE that
    /// leaves it as it was): ratcheting makes it a warning, never a denial.
    pub preexisting: bool,
}

/// What is wrong with a namespace's enforce label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforceProblem {
    /// Set to a valid level other than privileged.
    Level(Level),
    /// Set to something that is not a level.
    Invalid(String),
    /// Absent, and the cluster default is not privileged.
    Absent(Level),
}

/// What is wrong with one Longhorn data path (it fails, or loses data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// Not an absolute path (the text says how).
    Invalid(String),
    /// `/` itself.
    Root,
    /// On Talos's read-only root filesystem: nothing can be created there.
    ReadOnlyRoot,
    /// On a tmpfs (the one named): emptied at every boot.
    Tmpfs(&'static str),
    /// Inside `/dev`: device nodes, not a place for data.
    DevFs,
    /// Inside `/proc` or `/sys`: a kernel filesystem.
    KernelFs,
    /// A block disk path that is neither a device under /dev nor a PCI address.
    NotDevice,
    /// A block disk path inside a filesystem Talos mounts in `/dev` (`/dev/shm`
    /// is a tmpfs): a file, not a device.
    DevFilesystem {
        /// The mount point (`/dev/shm`).
        mount: &'static str,
        /// Its filesystem type (`tmpfs`).
        fs: &'static str,
    },
}

/// Why a data path that works keeps its data on the EPHEMERAL partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EphemeralWhy {
    /// A folder on `/var` or `/opt` outside any volume.
    Folder,
    /// Under `/var/mnt/<name>`, but the machine config declares no such volume.
    UndeclaredVolume(String),
    /// A `UserVolumeConfig` of `volumeType: directory`.
    DirectoryVolume(String),
    /// Under `/var/mnt/<name>`, and the node itself reports no ready volume
    /// of its own there (fresh facts of the guard's node reader).
    NodeReports(String, crate::host::Behind),
}

/// What a pod's host path volume does wrong on Talos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodPathProblem {
    /// kube-apiserver refuses it before any webhook is called (its words,
    /// from [`crate::policy::apiserver`]).
    RefusedByApiServer(String),
    /// A relative path, which kube-apiserver accepts.
    Relative,
    /// Not usable as a path (a NUL byte).
    Invalid(String),
    /// On the read-only root outside the trees Talos ships: containerd
    /// cannot create it and the container never starts.
    ReadOnlyRoot,
    /// A hostPath `type` the kubelet checks in its own container, which does
    /// not see this host path: the check fails and the pod never starts.
    TypeCheckUnseen(String),
    /// `FileOrCreate` on a path the kubelet cannot see: the kubelet makes the
    /// file in its own container, containerd then makes a directory on the host.
    FileOrCreateUnseen,
    /// A `subPath` of a volume the kubelet cannot see: the kubelet makes it in
    /// its own filesystem, a snapshot recreated at every kubelet restart.
    SubPathUnseen {
        /// The container.
        container: String,
        /// The subPath.
        sub_path: String,
    },
}

/// Where a disk path was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSource {
    /// `spec.disks` of a `nodes.longhorn.io` object.
    LonghornNode,
    /// The default-disks annotation of a Kubernetes node.
    DefaultDisks,
    /// The `default-data-path` setting (Longhorn's default disk on every node).
    Setting,
    /// A setting in the `longhorn-default-setting` ConfigMap (`node` holds
    /// `namespace/name`, `disk` the setting's name).
    SettingsConfigMap,
}

/// The kinds of problem, each with the data its message needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The Longhorn namespace would not run privileged.
    NamespaceEnforce {
        /// The namespace.
        namespace: String,
        /// What is wrong with its enforce label.
        problem: EnforceProblem,
    },
    /// An audit or warn level other than privileged: every Longhorn pod will
    /// be reported (a warning, never a denial).
    NamespaceNoisyLabel {
        /// The namespace.
        namespace: String,
        /// `audit` or `warn`.
        mode: &'static str,
        /// The label's value.
        value: String,
    },
    /// A disk path Longhorn cannot use.
    DiskPath {
        /// Where the disk was written.
        source: DiskSource,
        /// The node's name.
        node: String,
        /// The disk's name (or `[i]` for an unnamed default disk).
        disk: String,
        /// The path as written.
        path: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// A disk path that works but keeps its data on EPHEMERAL.
    DiskEphemeral {
        /// Where the disk was written.
        source: DiskSource,
        /// The node's name (the setting's name for `default-data-path`).
        node: String,
        /// The disk's name.
        disk: String,
        /// The path as written.
        path: String,
        /// Why it is on EPHEMERAL.
        why: EphemeralWhy,
    },
    /// A disk whose `diskType` is neither `filesystem` nor `block` (a later
    /// Longhorn may add one): its path is not judged, and it is a warning
    /// only, so that a newer Longhorn's own objects are never denied.
    DiskTypeUnknown {
        /// Where the disk was written.
        source: DiskSource,
        /// The node's name.
        node: String,
        /// The disk's name.
        disk: String,
        /// The `diskType` as written.
        disk_type: String,
    },
    /// A default-disks annotation that is not a JSON list of disks.
    DefaultDisksUnreadable {
        /// The node's name.
        node: String,
        /// The parser's message.
        error: String,
    },
    /// The `default-data-path` setting names an unusable path.
    DataPathSetting {
        /// The setting's name.
        setting: String,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// A Setting that no released Longhorn has (`default-control-path`): Longhorn
    /// refuses it and what it was meant to do does not happen (a warning only).
    UnreleasedSetting {
        /// The setting's name.
        setting: String,
        /// Its value.
        value: String,
    },
    /// The same setting as a key of `default-setting.yaml`: Longhorn skips that
    /// key (a warning only).
    DefaultSettingUnreleased {
        /// The ConfigMap as `namespace/name`.
        configmap: String,
        /// The setting.
        setting: String,
        /// Its value.
        value: String,
    },
    /// A path setting in the `longhorn-default-setting` ConfigMap that fails.
    DefaultSettingPath {
        /// The ConfigMap as `namespace/name`.
        configmap: String,
        /// The setting (`default-data-path`).
        setting: String,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// `default-setting.yaml` is not a YAML map Longhorn can read.
    DefaultSettingUnreadable {
        /// The ConfigMap as `namespace/name`.
        configmap: String,
        /// The parser's message, with line and column.
        error: String,
    },
    /// A key of the ConfigMap's `data` other than `default-setting.yaml`:
    /// Longhorn ignores it (a warning only).
    DefaultSettingIgnoredKey {
        /// The ConfigMap as `namespace/name`.
        configmap: String,
        /// The key.
        key: String,
    },
    /// A new block disk on a node with too few hugepages.
    Hugepages {
        /// The node's name.
        node: String,
        /// The block disk's name.
        disk: String,
        /// The node's `hugepages-2Mi`, in bytes.
        have: u64,
        /// The configured minimum, in bytes.
        need: u64,
    },
    /// The hugepages of a node could not be looked up (a warning only).
    HugepagesUnknown {
        /// The node's name.
        node: String,
        /// Why.
        why: String,
    },
    /// A pod's host path volume that fails on Talos.
    PodHostPath {
        /// The controller kind when the pod spec is a controller's template.
        owner: Option<&'static str>,
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The volume's name.
        volume: String,
        /// The host path as written.
        path: String,
        /// What is wrong.
        problem: PodPathProblem,
    },
    /// A pod's host path on a tmpfs: what it writes is gone at the next reboot.
    PodTmpfs {
        /// The controller kind when the pod spec is a controller's template.
        owner: Option<&'static str>,
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The volume's name.
        volume: String,
        /// The host path as written.
        path: String,
        /// The tmpfs.
        mount: &'static str,
    },
}
