//! Talos facts shared by the webhook's messages and `talos lint`: volume
//! names, where volumes mount, and the YAML snippets both suggest.

/// Where Talos mounts user, existing and external volumes: `/var/mnt/<name>`.
pub const VOLUME_MOUNT_ROOT: &str = "/var/mnt";

/// Talos's rule for volume names: 1 to 34 of `[A-Za-z0-9-]`.
pub fn is_valid_volume_name(name: &str) -> bool {
    (1..=34).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A valid name close to `name`: other characters become '-', cut to 34.
pub fn suggest_volume_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(34)
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "longhorn".to_string()
    } else {
        cleaned.to_string()
    }
}

/// The mount point of the volume `name`.
pub fn volume_mount_point(name: &str) -> String {
    format!("{VOLUME_MOUNT_ROOT}/{name}")
}

/// The user volume a path under `/var/mnt/<name>` would belong to, when
/// `<name>` is a valid volume name.
pub fn volume_name_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/var/mnt/")?.split('/').next()?;
    is_valid_volume_name(name).then_some(name)
}

/// A `machine.kubelet.extraMounts` entry binding `path` with rshared, as one
/// flow-style line (for denial messages).
pub fn extra_mount_inline(path: &str) -> String {
    format!(
        "machine.kubelet.extraMounts: [{{destination: {path}, type: bind, source: {path}, \
options: [bind, rshared, rw]}}]"
    )
}

/// A `machine.kubelet.extraMounts` entry for `path` as a block-style patch.
pub fn extra_mount_patch(path: &str, bind: &str) -> String {
    format!(
        "machine:\n  kubelet:\n    extraMounts:\n      - destination: {path}\n        type: bind\n        source: {path}\n        options: [{bind}, rshared, rw]\n"
    )
}

/// The `vm.nr_hugepages` sysctl as a patch: a `SysctlConfig` document for
/// document-style (Talos 1.14) configs, else `machine.sysctls`.
pub fn hugepages_patch(pages: u64, documents: bool) -> String {
    if documents {
        format!(
            "apiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"{pages}\"\n"
        )
    } else {
        format!("machine:\n  sysctls:\n    vm.nr_hugepages: \"{pages}\"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        // FACTS.md "Talos machine config": a volume name is 1 to 34 of [A-Za-z0-9-] (helper read user_volume_config.go @ v1.14.0-rc.1, tests/fixtures/talos-layouts/README.md).
        assert!(is_valid_volume_name("longhorn"));
        assert!(is_valid_volume_name(&"a".repeat(34)));
        assert!(!is_valid_volume_name(&"a".repeat(35)));
        assert!(!is_valid_volume_name("long_horn"));
        assert_eq!(volume_name_of("/var/mnt/fast/x"), Some("fast"));
        assert_eq!(volume_name_of("/var/mnt/a_b"), None);
        assert_eq!(volume_name_of("/var/lib/longhorn"), None);
        assert_eq!(volume_mount_point("longhorn"), "/var/mnt/longhorn");
    }
}
