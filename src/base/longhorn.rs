//! Longhorn's names and paths, in one place (Longhorn v1.10 to v1.13).

/// The namespace Longhorn installs into by default.
pub const DEFAULT_NAMESPACE: &str = "longhorn-system";

/// Longhorn's default data path and the folder of its control files
/// (`default-data-path` default; engine binaries, sockets, logs).
pub const DATA_PATH: &str = "/var/lib/longhorn";

/// The setting holding the data path of default disks.
pub const DEFAULT_DATA_PATH_SETTING: &str = "default-data-path";

/// The Longhorn releases this project's facts and tests cover.
pub const RELEASES: &str = "1.10-1.13";

/// A setting that no released Longhorn has: it was added on longhorn-manager's
/// master in 2026 to move the control files (engine binaries, sockets, logs)
/// out of `/var/lib/longhorn`, and reverted before v1.13.0
/// (longhorn-manager#5127, longhorn/longhorn#13843). Longhorn refuses a
/// Setting of that name and skips that key of `default-setting.yaml`.
pub const DEFAULT_CONTROL_PATH_SETTING: &str = "default-control-path";

/// The settings whose value is a host path the guard judges like a disk path.
pub const PATH_SETTINGS: [&str; 1] = [DEFAULT_DATA_PATH_SETTING];

/// The Setting names the guard reads: [`PATH_SETTINGS`], and
/// [`DEFAULT_CONTROL_PATH_SETTING`], which gets a warning that Longhorn ignores it.
pub const SETTINGS_READ: [&str; 2] = [DEFAULT_DATA_PATH_SETTING, DEFAULT_CONTROL_PATH_SETTING];

/// The ConfigMap Longhorn's Helm chart writes `defaultSettings` into.
pub const DEFAULT_SETTING_CONFIGMAP: &str = "longhorn-default-setting";

/// The key of that ConfigMap Longhorn reads: a flat YAML map of settings.
pub const DEFAULT_SETTING_KEY: &str = "default-setting.yaml";

/// The node label that makes Longhorn read [`DEFAULT_DISKS_ANNOTATION`] (value `config`).
pub const CREATE_DEFAULT_DISK_LABEL: &str = "node.longhorn.io/create-default-disk";

/// The setting that makes Longhorn create default disks only on labelled
/// nodes, and read [`DEFAULT_DISKS_ANNOTATION`] on those labelled `config`.
pub const CREATE_DEFAULT_DISK_LABELED_NODES: &str = "create-default-disk-labeled-nodes";

/// The node annotation listing the default disks, as JSON.
pub const DEFAULT_DISKS_ANNOTATION: &str = "node.longhorn.io/default-disks-config";

/// The label prefix of Pod Security Admission.
pub const PSA_PREFIX: &str = "pod-security.kubernetes.io/";

/// The labels Longhorn recommends on its namespace, with their values.
pub const NAMESPACE_LABELS: [(&str, &str); 6] = [
    ("pod-security.kubernetes.io/enforce", "privileged"),
    ("pod-security.kubernetes.io/enforce-version", "latest"),
    ("pod-security.kubernetes.io/audit", "privileged"),
    ("pod-security.kubernetes.io/audit-version", "latest"),
    ("pod-security.kubernetes.io/warn", "privileged"),
    ("pod-security.kubernetes.io/warn-version", "latest"),
];

/// Longhorn's `data-engine-memory-size` default: 2048 MiB of 2 MiB hugepages.
pub const DEFAULT_V2_MIN_HUGEPAGES: &str = "2Gi";

/// [`DEFAULT_V2_MIN_HUGEPAGES`] in bytes.
pub const DEFAULT_V2_MIN_HUGEPAGES_BYTES: u64 = 2 << 30;

/// The size of one hugepage the V2 data engine uses.
pub const HUGEPAGE_BYTES: u64 = 2 * 1024 * 1024;

/// The kernel modules Longhorn's Talos guide loads for the V2 data engine.
pub const V2_MODULES: [&str; 2] = ["nvme_tcp", "vfio_pci"];

/// [`V2_MODULES`] without those built into Talos's kernel
/// ([`super::upstream::TALOS_BUILT_IN_MODULES`]): what a Talos machine config
/// has to load for the V2 data engine.
pub fn v2_modules_to_load() -> Vec<&'static str> {
    V2_MODULES
        .into_iter()
        .filter(|m| !super::upstream::talos_builds_in(m))
        .collect()
}

/// The number of 2 MiB hugepages that hold `bytes`, rounded up.
pub const fn hugepages_for(bytes: u64) -> u64 {
    bytes.div_ceil(HUGEPAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_counts() {
        // Longhorn's Talos guide: vm.nr_hugepages 1024 for the 2 GiB default.
        assert_eq!(hugepages_for(2 << 30), 1024);
        assert_eq!(hugepages_for(4 << 30), 2048);
        assert_eq!(hugepages_for(1), 1);
        assert_eq!(hugepages_for(0), 0);
    }

    #[test]
    fn talos_loads_only_vfio_pci() {
        // siderolabs/pkgs kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y, CONFIG_VFIO_PCI=m.
        assert_eq!(v2_modules_to_load(), ["vfio_pci"]);
    }
}
