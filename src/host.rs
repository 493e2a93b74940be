//! The Talos host model: what a host path is on a Talos node, and whether
//! the kubelet container can see it. One pure module every rule asks; no
//! other module hard-codes Talos paths.
//!
//! The facts (siderolabs/talos, kubelet, containerd and longhorn-manager
//! source, late 2026; see the tests for each source):
//! - `/` is a read-only squashfs: nothing can be created on it, and only
//!   what [`ROOTFS`] lists exists there.
//! - `/run` (and `/var/run`, which is `/run`), `/tmp`, `/system` and
//!   `/dev/shm` are tmpfs, empty at every boot.
//! - `/var` is the EPHEMERAL partition (kept across reboots and, from Talos
//!   1.8, upgrades; wiped by `talosctl reset`); `/opt`, `/etc/cni` and
//!   `/etc/kubernetes` are overlays stored on it.
//! - User, existing and external volumes mount at `/var/mnt/<name>`;
//!   `partition` and `disk` user volumes are their own filesystem,
//!   `directory` ones a folder on EPHEMERAL. A `/var/mnt/<x>` without a
//!   volume is a plain folder on EPHEMERAL.
//! - The kubelet container sees a fixed set of host paths, `/var/mnt`
//!   (read-only, 1.10+) and `machine.kubelet.extraMounts`.
//! - Talos 1.14 can put `/var/lib/etcd`, `/var/lib/containerd`,
//!   `/var/lib/kubelet` and `/var/log` on partitions of their own
//!   ([`SYSTEM_VOLUMES`]); without that they are folders on EPHEMERAL.
//! - Talos 1.14's workload isolation (`SecurityProfileConfig`) runs
//!   containerd, the kubelet and every pod in a PID and mount namespace that
//!   copies the host's mounts: every path above keeps its meaning there.

use crate::base::HostPath;
use crate::base::longhorn::DATA_PATH;
use crate::base::talos::{VOLUME_MOUNT_ROOT, is_valid_volume_name};

/// The type of a volume Talos mounts at `/var/mnt/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// A partition of its own (a `UserVolumeConfig`'s default).
    Partition,
    /// A whole disk of its own.
    Disk,
    /// A folder on the EPHEMERAL partition.
    Directory,
    /// An existing or external volume: a filesystem Talos mounts but did not make.
    Mounted,
}

impl VolumeType {
    /// Reads a `UserVolumeConfig`'s `volumeType` (absent: `partition`).
    pub fn from_user_volume(volume_type: Option<&str>) -> Option<VolumeType> {
        match volume_type {
            None | Some("partition") => Some(VolumeType::Partition),
            Some("disk") => Some(VolumeType::Disk),
            Some("directory") => Some(VolumeType::Directory),
            Some(_) => None,
        }
    }

    /// The spelling in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeType::Partition => "partition",
            VolumeType::Disk => "disk",
            VolumeType::Directory => "directory",
            VolumeType::Mounted => "mounted",
        }
    }

    /// True when the volume is its own filesystem (not a folder on EPHEMERAL).
    pub fn is_own_filesystem(self) -> bool {
        !matches!(self, VolumeType::Directory)
    }
}

/// A volume a machine config declares at `/var/mnt/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredVolume {
    /// Its name.
    pub name: String,
    /// Its document kind (`UserVolumeConfig`, ...).
    pub kind: &'static str,
    /// Its type; `None` for a `volumeType` Talos does not know.
    pub volume_type: Option<VolumeType>,
}

/// What a machine config tells about a node's host layout, when it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The volumes mounted at `/var/mnt/<name>`.
    pub volumes: Vec<DeclaredVolume>,
    /// The destinations of `machine.kubelet.extraMounts`, normalised.
    pub extra_mounts: Vec<HostPath>,
    /// True when the config has a `KubeletConfig` document (Talos 1.14),
    /// which has no extraMounts.
    pub kubelet_config_document: bool,
    /// The Talos minor version the installer image names (`(1, 10)`).
    pub talos_version: Option<(u32, u32)>,
    /// The [`SYSTEM_VOLUMES`] (by id: `KUBELET`, ...) the config puts on a
    /// partition of their own (Talos 1.14 `VolumeConfig` with provisioning).
    pub system_volumes: Vec<&'static str>,
    /// Talos 1.14 workload isolation (`SecurityProfileConfig` with
    /// `workloadIsolation: true`): containerd, the kubelet and the pods run in
    /// a sandbox whose mounts are a copy of the host's. It changes no path's
    /// place; a `hostPID` pod sees the sandbox's processes, not the host's.
    pub workload_isolation: bool,
}

impl Layout {
    /// True when the Talos version is known to be before `major.minor`.
    pub fn before(&self, major: u32, minor: u32) -> bool {
        self.talos_version.is_some_and(|v| v < (major, minor))
    }

    /// The volume named `name`, if declared.
    pub fn volume(&self, name: &str) -> Option<&DeclaredVolume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// The system volume of its own that holds `path` (id and mount point).
    pub fn system_volume(&self, path: &HostPath) -> Option<(&'static str, &'static str)> {
        SYSTEM_VOLUMES
            .into_iter()
            .filter(|(id, _)| self.system_volumes.contains(id))
            .find(|(_, mount)| path.is_within_normalised(mount))
    }
}

/// What a node reported about its volumes through the Talos API
/// (`VolumeStatuses` and `MountStatuses` of namespace `runtime`), read by the
/// guard before any rule runs: the same facts `talos preflight` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedVolumes {
    /// `(id, phase, type)` of each `VolumeStatus` (`EPHEMERAL`, `u-<name>`, ...).
    pub volumes: Vec<(String, String, String)>,
    /// `(id, target)` of each `MountStatus`.
    pub mounts: Vec<(String, String)>,
}

/// What a node reports behind `/var/mnt/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behind {
    /// A ready volume of its own, mounted at `/var/mnt/<name>`.
    OwnVolume,
    /// No user, existing or external volume `<name>`: a folder on EPHEMERAL.
    Nothing,
    /// The volume (`id`) is not ready: its phase (`failed`, `waiting`, ...).
    NotReady {
        /// The volume's id (`u-<name>`).
        id: String,
        /// Its phase.
        phase: String,
    },
    /// The volume (`id`) is of type `directory`: a folder on EPHEMERAL.
    Directory {
        /// The volume's id.
        id: String,
    },
    /// The volume (`id`) is ready but no mount targets `/var/mnt/<name>`.
    NotMounted {
        /// The volume's id.
        id: String,
    },
}

/// The prefixes of the volumes Talos mounts at `/var/mnt/<name>`: user
/// (`u-`), existing (`e-`) and external (`x-`) volumes (siderolabs/talos
/// `internal/app/machined/pkg/controllers/block/internal/volumes/volumeconfig/user_volumes.go`,
/// v1.14.0-rc.1; the prefixes in pkg/machinery `constants/constants.go`, v1.14.1).
pub const MOUNTED_VOLUME_PREFIXES: [&str; 3] = ["u-", "e-", "x-"];

impl ReportedVolumes {
    /// What is behind `/var/mnt/<name>` on the node: a volume is a disk of
    /// its own only when it is `ready`, not of type `directory`, and a mount
    /// targets that path (TALOS-API.md: a `VolumeStatus` carries only the
    /// last path element; the full path is in its `MountStatus`).
    pub fn behind(&self, name: &str) -> Behind {
        let Some((id, phase, kind)) = MOUNTED_VOLUME_PREFIXES.iter().find_map(|p| {
            let id = format!("{p}{name}");
            self.volumes.iter().find(|v| v.0 == id)
        }) else {
            return Behind::Nothing;
        };
        let target = format!("{VOLUME_MOUNT_ROOT}/{name}");
        if phase != "ready" {
            Behind::NotReady {
                id: id.clone(),
                phase: phase.clone(),
            }
        } else if kind == "directory" {
            Behind::Directory { id: id.clone() }
        } else if !self.mounts.iter().any(|m| &m.0 == id && m.1 == target) {
            Behind::NotMounted { id: id.clone() }
        } else {
            Behind::OwnVolume
        }
    }
}

/// A tmpfs of the Talos host.
pub const TMPFS: [&str; 5] = ["/run", "/var/run", "/tmp", "/system", "/dev/shm"];

/// The filesystems Talos mounts inside `/dev`, with their type
/// (siderolabs/talos v1.14.0-rc.1 `internal/pkg/mount/v3/helpers.go`,
/// `PseudoSub`): they hold files, not device nodes. Talos mounts no mqueue.
pub const DEV_FILESYSTEMS: [(&str, &str); 3] = [
    ("/dev/shm", "tmpfs"),
    ("/dev/pts", "devpts"),
    ("/dev/hugepages", "hugetlbfs"),
];

/// The filesystem Talos mounts inside `/dev` that holds `path`, as
/// `(mount point, type)`, if any.
pub fn dev_filesystem(path: &HostPath) -> Option<(&'static str, &'static str)> {
    DEV_FILESYSTEMS
        .into_iter()
        .find(|(mount, _)| path.is_within_normalised(mount))
}

/// How much of a path Talos's read-only root filesystem is known to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shipped {
    /// A file: nothing exists below it.
    File,
    /// A folder holding exactly the entries [`ROOTFS`] lists below it.
    Folder,
    /// A folder whose content packages or system extensions fill: anything
    /// below it may exist.
    Tree,
}

/// What exists on Talos's read-only root outside its mounts, in every Talos
/// image (siderolabs/talos v1.14.0-rc.1, checked back to v1.8.0): the
/// `rootfs-base` stage of `Dockerfile` (its `mkdir`, `COPY` and `ln` into
/// `/rootfs`), siderolabs/pkgs v1.14.0 `fhs/pkg.yaml` (the FHS skeleton and
/// the `/bin`, `/lib` symlinks into `/usr`) and `apparmor/pkg.yaml`, the
/// files and folders machined manages in `/etc` (`managedEtcFiles` and
/// `managedEtcPrefixes` in `pkg/machinery/config/types/runtime/etc_file.go`),
/// and what system extensions may add (`AllowedPaths` in
/// `pkg/machinery/extensions/extensions.go`). A host path below a
/// [`Shipped::Folder`] or [`Shipped::File`] that is not listed does not
/// exist, and containerd cannot create it on the read-only root.
pub const ROOTFS: &[(&str, Shipped)] = &[
    ("/boot", Shipped::Tree),
    ("/mnt", Shipped::Folder),
    ("/root", Shipped::Folder),
    ("/etc", Shipped::Folder),
    ("/etc/apparmor", Shipped::Tree),
    ("/etc/apparmor.d", Shipped::Tree),
    ("/etc/ca-certificates", Shipped::Tree),
    ("/etc/containerd", Shipped::Tree),
    ("/etc/cri", Shipped::Tree),
    ("/etc/extensions.yaml", Shipped::File),
    ("/etc/hosts", Shipped::File),
    ("/etc/iscsi", Shipped::Tree),
    ("/etc/ld.so.cache", Shipped::File),
    ("/etc/ld.so.conf", Shipped::File),
    ("/etc/localtime", Shipped::File),
    ("/etc/lvm", Shipped::Tree),
    ("/etc/machine-id", Shipped::File),
    ("/etc/modules.d", Shipped::Tree),
    ("/etc/nfsmount.conf", Shipped::File),
    ("/etc/nvme", Shipped::Tree),
    ("/etc/os-release", Shipped::File),
    ("/etc/pki", Shipped::Tree),
    ("/etc/resolv.conf", Shipped::File),
    ("/etc/selinux", Shipped::Tree),
    ("/etc/ssl", Shipped::Tree),
    ("/etc/vulkan", Shipped::Tree),
    ("/etc/xattr.conf", Shipped::File),
    ("/usr", Shipped::Folder),
    ("/usr/bin", Shipped::Tree),
    ("/usr/etc", Shipped::Tree),
    ("/usr/include", Shipped::Folder),
    ("/usr/lib", Shipped::Tree),
    ("/usr/libexec", Shipped::Tree),
    ("/usr/local", Shipped::Tree),
    ("/usr/share", Shipped::Tree),
    ("/usr/src", Shipped::Folder),
    ("/usr/var", Shipped::Folder),
];

/// Symlinks of Talos's root into `/usr` (pkgs `fhs/pkg.yaml`), resolved
/// before [`ROOTFS`] is read.
pub const ROOTFS_LINKS: [(&str, &str); 6] = [
    ("/bin", "/usr/bin"),
    ("/sbin", "/usr/bin"),
    ("/lib", "/usr/lib"),
    ("/lib64", "/usr/lib"),
    ("/usr/sbin", "/usr/bin"),
    ("/usr/lib64", "/usr/lib"),
];

/// True when `path` on Talos's read-only root exists in every Talos image,
/// or lies in a tree whose content packages and extensions fill (so it may).
pub fn is_shipped(path: &HostPath) -> bool {
    let resolved = ROOTFS_LINKS.iter().find_map(|(link, target)| {
        let rest = path.as_str().strip_prefix(link)?;
        HostPath::parse(&format!("{target}{rest}"))
            .ok()
            .filter(|_| path.is_within_normalised(link))
    });
    let path = resolved.as_ref().unwrap_or(path);
    ROOTFS
        .iter()
        .filter(|(base, _)| path.is_within_normalised(base))
        .max_by_key(|(base, _)| base.len())
        .is_some_and(|(base, kind)| *base == path.as_str() || *kind == Shipped::Tree)
}

/// Overlays and folders stored on the EPHEMERAL partition.
pub const EPHEMERAL: [&str; 4] = ["/var", "/opt", "/etc/cni", "/etc/kubernetes"];

/// Host paths Talos mounts into the kubelet container, whatever the config.
pub const KUBELET_MOUNTS: [&str; 15] = [
    "/dev",
    "/sys",
    "/proc",
    "/lib/modules",
    "/etc/kubernetes",
    "/etc/cni",
    "/etc/nfsmount.conf",
    "/etc/machine-id",
    "/etc/os-release",
    "/run",
    "/var/run",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
];

/// Talos 1.14's system volumes that can be partitions of their own: the
/// `VolumeConfig` name and the path Talos mounts it at. Without
/// provisioning in their `VolumeConfig` they are folders on EPHEMERAL.
pub const SYSTEM_VOLUMES: [(&str, &str); 4] = [
    ("ETCD", "/var/lib/etcd"),
    ("CRI", "/var/lib/containerd"),
    ("KUBELET", "/var/lib/kubelet"),
    ("LOG", "/var/log"),
];

/// What a host path is on a Talos node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `/` itself: the whole host.
    HostRoot,
    /// On the read-only root filesystem. `system_tree` when the path is one
    /// Talos ships ([`is_shipped`]: `/etc`, `/etc/ssl/...`, `/usr/lib/...`),
    /// so it exists or may; otherwise it does not exist and cannot be made.
    ReadOnlyRoot {
        /// True when [`is_shipped`].
        system_tree: bool,
    },
    /// On a tmpfs: emptied at every boot.
    Tmpfs {
        /// The tmpfs it is on (`/run`, `/tmp`, ...).
        mount: &'static str,
    },
    /// Device nodes (`/dev`, devtmpfs).
    DevFs,
    /// A kernel filesystem (`/proc`, `/sys`).
    KernelFs,
    /// Longhorn's own default data and control path (`/var/lib/longhorn`),
    /// on EPHEMERAL: what Longhorn's Talos guide uses.
    LonghornData,
    /// Inside a volume the machine config declares at `/var/mnt/<name>`.
    Volume(DeclaredVolume),
    /// Under `/var/mnt/<name>` while no machine config is known: a user
    /// volume if the node has one, else a folder on EPHEMERAL.
    AssumedVolume {
        /// The `<name>`.
        name: String,
    },
    /// Under `/var/mnt/<name>` of a machine config that declares no such
    /// volume: a plain folder on EPHEMERAL.
    UndeclaredVolume {
        /// The `<name>`.
        name: String,
    },
    /// Inside a Talos 1.14 system volume the machine config puts on a
    /// partition of its own (not EPHEMERAL): one of [`SYSTEM_VOLUMES`].
    SystemVolume {
        /// Its `VolumeConfig` name (`KUBELET`, ...).
        id: &'static str,
        /// Where Talos mounts it (`/var/lib/kubelet`, ...).
        mount: &'static str,
    },
    /// Elsewhere on the EPHEMERAL partition (`/var`, `/opt`, ...).
    Ephemeral,
}

impl Place {
    /// True when data kept here lives on the EPHEMERAL partition (the system
    /// disk's capacity, wiped by `talosctl reset`).
    pub fn is_ephemeral(&self) -> bool {
        match self {
            Place::Ephemeral | Place::UndeclaredVolume { .. } | Place::LonghornData => true,
            Place::Volume(v) => v.volume_type == Some(VolumeType::Directory),
            _ => false,
        }
    }
}

/// What `path` is on a Talos node with `layout` (`None`: the machine config
/// is not known).
pub fn classify(path: &HostPath, layout: Option<&Layout>) -> Place {
    if path.is_root() {
        return Place::HostRoot;
    }
    if let Some(mount) = TMPFS.into_iter().find(|t| path.is_within_normalised(t)) {
        return Place::Tmpfs { mount };
    }
    if path.is_within_normalised("/dev") {
        return Place::DevFs;
    }
    if path.is_within_normalised("/proc") || path.is_within_normalised("/sys") {
        return Place::KernelFs;
    }
    if path.is_within_normalised(DATA_PATH) {
        return Place::LonghornData;
    }
    if let Some(rest) = path
        .as_str()
        .strip_prefix(VOLUME_MOUNT_ROOT)
        .and_then(|r| r.strip_prefix('/'))
    {
        let name = rest.split('/').next().unwrap_or(rest);
        if is_valid_volume_name(name) {
            return match layout {
                None => Place::AssumedVolume {
                    name: name.to_string(),
                },
                Some(l) => match l.volume(name) {
                    Some(v) => Place::Volume(v.clone()),
                    None => Place::UndeclaredVolume {
                        name: name.to_string(),
                    },
                },
            };
        }
        return Place::Ephemeral;
    }
    if let Some((id, mount)) = layout.and_then(|l| l.system_volume(path)) {
        return Place::SystemVolume { id, mount };
    }
    if EPHEMERAL.iter().any(|e| path.is_within_normalised(e)) {
        return Place::Ephemeral;
    }
    Place::ReadOnlyRoot {
        system_tree: is_shipped(path),
    }
}

/// Whether the kubelet container sees `path` as the host does: `Some(true)`
/// or `Some(false)` when the answer is certain, `None` when it depends on a
/// machine config that is not known.
pub fn kubelet_sees(path: &HostPath, layout: Option<&Layout>) -> Option<bool> {
    if KUBELET_MOUNTS.iter().any(|m| path.is_within_normalised(m)) {
        return Some(true);
    }
    let Some(layout) = layout else {
        // /var/mnt is mounted from Talos 1.10; extraMounts are unknown.
        return None;
    };
    if path.is_within_normalised(VOLUME_MOUNT_ROOT) && !layout.before(1, 10) {
        return Some(true);
    }
    Some(layout.extra_mounts.iter().any(|m| path.is_within(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPath {
        HostPath::parse(s).unwrap()
    }

    fn layout() -> Layout {
        Layout {
            volumes: vec![
                DeclaredVolume {
                    name: "longhorn".into(),
                    kind: "UserVolumeConfig",
                    volume_type: Some(VolumeType::Partition),
                },
                DeclaredVolume {
                    name: "scratch".into(),
                    kind: "UserVolumeConfig",
                    volume_type: Some(VolumeType::Directory),
                },
            ],
            extra_mounts: vec![p("/var/lib/longhorn")],
            kubelet_config_document: false,
            talos_version: Some((1, 10)),
            ..Layout::default()
        }
    }

    #[test]
    fn places_table() {
        let l = layout();
        let cases: [(&str, Option<&Layout>, Place); 20] = [
            // FACTS.md "Where data lands on a Talos node": / is a read-only squashfs.
            ("/mnt/ssd", None, Place::ReadOnlyRoot { system_tree: false }),
            ("/data", None, Place::ReadOnlyRoot { system_tree: false }),
            ("/home/x", None, Place::ReadOnlyRoot { system_tree: false }),
            // ROOTFS (talos Dockerfile and etc_file.go @ v1.14.0-rc.1): /etc holds only what
            // Talos ships, so /etc/longhorn does not exist and cannot be made.
            (
                "/etc/longhorn",
                None,
                Place::ReadOnlyRoot { system_tree: false },
            ),
            // pkg/machinery/extensions/extensions.go @ v1.14.0-rc.1: extensions may fill /usr/local.
            (
                "/usr/local/longhorn",
                None,
                Place::ReadOnlyRoot { system_tree: true },
            ),
            // FACTS.md, same section: /run, /tmp, /system are tmpfs, empty at every boot.
            ("/run/longhorn", None, Place::Tmpfs { mount: "/run" }),
            ("/var/run/x", None, Place::Tmpfs { mount: "/var/run" }),
            ("/tmp/x", None, Place::Tmpfs { mount: "/tmp" }),
            ("/system/x", None, Place::Tmpfs { mount: "/system" }),
            ("/dev/shm/x", None, Place::Tmpfs { mount: "/dev/shm" }),
            ("/dev/sdb", None, Place::DevFs),
            ("/proc/1", None, Place::KernelFs),
            // Longhorn's Talos guide: default-data-path /var/lib/longhorn on EPHEMERAL.
            ("/var/lib/longhorn/disk-2", None, Place::LonghornData),
            ("/var/lib/longhorn2", None, Place::Ephemeral),
            ("/opt/longhorn", None, Place::Ephemeral),
            // FACTS.md "Talos machine config": user volumes mount at /var/mnt/<name> (1.10+).
            (
                "/var/mnt/longhorn/d",
                Some(&l),
                Place::Volume(l.volumes[0].clone()),
            ),
            (
                "/var/mnt/fast",
                Some(&l),
                Place::UndeclaredVolume {
                    name: "fast".into(),
                },
            ),
            (
                "/var/mnt/fast",
                None,
                Place::AssumedVolume {
                    name: "fast".into(),
                },
            ),
            ("/var/mnt/a_b", None, Place::Ephemeral),
            ("/", None, Place::HostRoot),
        ];
        for (path, layout, want) in cases {
            assert_eq!(classify(&p(path), layout), want, "{path}");
        }
        assert!(classify(&p("/var/mnt/scratch"), Some(&l)).is_ephemeral());
        assert!(!classify(&p("/var/mnt/longhorn"), Some(&l)).is_ephemeral());
    }

    #[test]
    fn what_the_talos_root_holds() {
        // siderolabs/talos v1.14.0-rc.1: Dockerfile (rootfs-base: mkdir, COPY, ln into /rootfs),
        // pkg/machinery/config/types/runtime/etc_file.go (managedEtcFiles, managedEtcPrefixes),
        // pkg/machinery/extensions/extensions.go (AllowedPaths); siderolabs/pkgs v1.14.0
        // fhs/pkg.yaml (/lib -> usr/lib, /bin -> usr/bin).
        let shipped = [
            "/etc",
            "/etc/ssl",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/os-release",
            "/etc/machine-id",
            "/etc/resolv.conf",
            "/etc/iscsi",
            "/etc/nvme/hostnqn",
            "/etc/cri/conf.d/20-customization.part",
            "/boot",
            "/boot/EFI",
            "/lib/modules",
            "/lib/modules/6.18.1-talos/kernel",
            "/lib64",
            "/bin/sh",
            "/usr/libexec/kubernetes",
            "/usr/local/lib/containers/iscsid",
            "/mnt",
            "/root",
        ];
        for path in shipped {
            assert!(is_shipped(&p(path)), "{path} is shipped");
        }
        let absent = [
            "/etc/longhorn",
            "/etc/longhorn/certs",
            "/etc/os-release/x",
            "/etc/ssl2",
            "/etc/kube",
            "/mnt/longhorn",
            "/root/.ssh",
            "/usr/longhorn",
            "/usr/src/linux",
            "/usr/include/x",
            "/srv",
            "/home",
        ];
        for path in absent {
            assert!(!is_shipped(&p(path)), "{path} is not shipped");
        }
    }

    #[test]
    fn kubelet_view() {
        // talos internal/app/machined/pkg/system/services/kubelet.go (v1.10+): fixed mounts,
        // /var/mnt read-only, plus machine.kubelet.extraMounts.
        let l = layout();
        assert_eq!(kubelet_sees(&p("/var/lib/kubelet/pods"), None), Some(true));
        assert_eq!(kubelet_sees(&p("/var/lib/longhorn/x"), None), None);
        assert_eq!(
            kubelet_sees(&p("/var/lib/longhorn/x"), Some(&l)),
            Some(true)
        );
        assert_eq!(kubelet_sees(&p("/var/mnt/longhorn"), Some(&l)), Some(true));
        assert_eq!(kubelet_sees(&p("/opt/x"), Some(&l)), Some(false));
        let old = Layout {
            talos_version: Some((1, 9)),
            ..Layout::default()
        };
        assert_eq!(kubelet_sees(&p("/var/mnt/x"), Some(&old)), Some(false));
        let ci = Layout::default();
        assert_eq!(
            kubelet_sees(&p("/var/lib/longhorn/logs"), Some(&ci)),
            Some(false)
        );
    }

    #[test]
    fn system_volumes_of_their_own_are_not_ephemeral() {
        // siderolabs/talos @ v1.14.0-rc.1: pkg/machinery/constants/constants.go (KubeletDataPath,
        // CRIContainerdDataPath, EtcdDataPath, LogMountPoint) and
        // internal/app/machined/pkg/controllers/block/internal/volumes/volumeconfig/system_volumes.go
        // (a partition of its own with provisioning, else a directory under EPHEMERAL).
        let own = Layout {
            system_volumes: vec!["KUBELET", "LOG"],
            ..Layout::default()
        };
        let kubelet = Place::SystemVolume {
            id: "KUBELET",
            mount: "/var/lib/kubelet",
        };
        assert_eq!(
            classify(&p("/var/lib/kubelet/longhorn"), Some(&own)),
            kubelet
        );
        assert_eq!(classify(&p("/var/lib/kubelet"), Some(&own)), kubelet);
        assert_eq!(
            classify(&p("/var/log/longhorn"), Some(&own)),
            Place::SystemVolume {
                id: "LOG",
                mount: "/var/log"
            }
        );
        assert!(!classify(&p("/var/log/pods"), Some(&own)).is_ephemeral());
        // Not declared (CRI, ETCD), or no config known: folders on EPHEMERAL.
        for (path, layout) in [
            ("/var/lib/containerd/x", Some(&own)),
            ("/var/lib/etcd", Some(&own)),
            ("/var/lib/kubelet/x", None),
            ("/var/lib/kubelet2", Some(&own)),
            ("/var/lib/kubelet/x", Some(&Layout::default())),
        ] {
            assert_eq!(classify(&p(path), layout), Place::Ephemeral, "{path}");
        }
        // Longhorn's own path and the tmpfs /var/run keep their places.
        assert_eq!(
            classify(&p("/var/lib/longhorn"), Some(&own)),
            Place::LonghornData
        );
    }

    #[test]
    fn workload_isolation_changes_no_place() {
        // siderolabs/talos @ v1.14.0-rc.1 internal/app/machined/pkg/sandboxd/init.go: the sandbox is a
        // new PID and mount namespace with the host's mounts, only /proc remounted; the kubelet
        // still runs as a container of the (sandboxed) CRI (services/cri.go), with the same mounts.
        let paths = [
            "/",
            "/mnt/ssd",
            "/etc/longhorn",
            "/run/x",
            "/tmp/x",
            "/dev/sdb",
            "/proc/1",
            "/var/lib/longhorn/d",
            "/var/mnt/longhorn",
            "/var/mnt/scratch",
            "/var/mnt/fast",
            "/opt/x",
            "/var/lib/kubelet/pods",
            "/var/lib/other",
        ];
        let plain = layout();
        let isolated = Layout {
            workload_isolation: true,
            ..layout()
        };
        for path in paths {
            assert_eq!(
                classify(&p(path), Some(&isolated)),
                classify(&p(path), Some(&plain)),
                "{path}"
            );
            assert_eq!(
                kubelet_sees(&p(path), Some(&isolated)),
                kubelet_sees(&p(path), Some(&plain)),
                "{path}"
            );
        }
    }

    #[test]
    fn a_reported_volume_is_a_disk_of_its_own_only_when_ready_mounted_and_not_a_directory() {
        // TALOS-API.md (siderolabs/talos v1.14.0-rc.1 user_volumes.go): a
        // VolumeStatus u-<name> with phase ready, a MountStatus u-<name>
        // targeting /var/mnt/<name>.
        let v = |id: &str, phase: &str, kind: &str| {
            (id.to_string(), phase.to_string(), kind.to_string())
        };
        let m = |id: &str, target: &str| (id.to_string(), target.to_string());
        let node = ReportedVolumes {
            volumes: vec![
                v("EPHEMERAL", "ready", "partition"),
                v("u-longhorn", "ready", "partition"),
                v("u-failed", "failed", "partition"),
                v("u-dir", "ready", "directory"),
                v("u-loose", "ready", "disk"),
                v("e-old", "ready", "partition"),
            ],
            mounts: vec![
                m("u-longhorn", "/var/mnt/longhorn"),
                m("u-dir", "/var/mnt/dir"),
                m("e-old", "/var/mnt/old"),
            ],
        };
        assert_eq!(node.behind("longhorn"), Behind::OwnVolume);
        assert_eq!(node.behind("old"), Behind::OwnVolume);
        assert_eq!(node.behind("data"), Behind::Nothing);
        assert_eq!(
            node.behind("failed"),
            Behind::NotReady {
                id: "u-failed".into(),
                phase: "failed".into()
            }
        );
        assert_eq!(node.behind("dir"), Behind::Directory { id: "u-dir".into() });
        assert_eq!(
            node.behind("loose"),
            Behind::NotMounted {
                id: "u-loose".into()
            }
        );
    }
}
