//! Talos facts shared by the webhook's messages and `talos lint`: volume
//! names, where volumes mount, and the YAML snippets both suggest.

/// The system extensions Longhorn's Talos guide requires, as an Image Factory
/// schematic names them; a node's `ExtensionStatus` carries the part after
/// `siderolabs/` as its `metadata.name`.
pub const REQUIRED_EXTENSIONS: [&str; 2] =
    ["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"];

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

/// What data on the EPHEMERAL partition costs, in one clause.
pub const EPHEMERAL_COST: &str = "the system disk's capacity, wiped by talosctl reset";

/// [`EPHEMERAL_COST`] in a warning's few words.
pub const EPHEMERAL_COST_SHORT: &str = "system disk, wiped by talosctl reset";

/// The disk selector of every suggested `UserVolumeConfig`: any disk but the system disk.
pub const USER_VOLUME_SELECTOR: &str = "!system_disk";

/// The minimum size of every suggested `UserVolumeConfig`.
pub const USER_VOLUME_MIN_SIZE: &str = "100GiB";

/// A `UserVolumeConfig` named `name`, as one flow-style clause (for messages).
pub fn user_volume_inline(name: &str) -> String {
    format!(
        "apiVersion: v1alpha1, kind: UserVolumeConfig, name: {name}, provisioning: {{diskSelector: \
{{match: \"{USER_VOLUME_SELECTOR}\"}}, minSize: {USER_VOLUME_MIN_SIZE}}}"
    )
}

/// A `UserVolumeConfig` document named `name` (already YAML-quoted when it
/// needs to be), with a `volumeType` line when one is given.
pub fn user_volume_document(name: &str, volume_type: Option<&str>) -> String {
    let volume_type = volume_type.map_or_else(String::new, |t| format!("volumeType: {t}\n"));
    format!(
        "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: {name}\n{volume_type}provisioning:\n  \
diskSelector:\n    match: \"{USER_VOLUME_SELECTOR}\"\n  minSize: {USER_VOLUME_MIN_SIZE}\n"
    )
}

/// The kernel-module snippet: `KernelModuleConfig` documents for
/// document-style (Talos 1.14) configs, else `machine.kernel.modules`.
pub fn modules_patch<M: AsRef<str>>(modules: &[M], documents: bool) -> String {
    if documents {
        modules
            .iter()
            .map(|m| {
                format!(
                    "apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: {}\n",
                    m.as_ref()
                )
            })
            .collect::<Vec<_>>()
            .join("---\n")
    } else {
        let mut out = String::from("machine:\n  kernel:\n    modules:\n");
        for m in modules {
            out.push_str(&format!("      - name: {}\n", m.as_ref()));
        }
        out
    }
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

/// How the kernel read a number written to `/proc/sys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Radix {
    /// Plain decimal.
    Decimal,
    /// `0x...`: hexadecimal.
    Hex,
    /// A leading `0`: octal.
    Octal,
}

/// Reads an unsigned sysctl value the way the kernel does when Talos writes
/// the string unchanged to `/proc/sys` (`proc_get_long` in kernel/sysctl.c:
/// spaces skipped, a digit first, base 0 so `0x400` is hexadecimal 1024 and
/// `01024` octal 532, then only whitespace); `None` is what the kernel
/// refuses with EINVAL.
pub fn sysctl_ulong(value: &str) -> Option<(u64, Radix)> {
    let s = value.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, Radix::Hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], Radix::Octal)
    } else {
        (s, Radix::Decimal)
    };
    let base = match radix {
        Radix::Decimal => 10,
        Radix::Hex => 16,
        Radix::Octal => 8,
    };
    u64::from_str_radix(digits, base).ok().map(|n| (n, radix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_values_as_the_kernel_reads_them() {
        // linux kernel/sysctl.c proc_get_long: strtoul_lenient(p, &p, 0, val), base 0.
        assert_eq!(sysctl_ulong("1024"), Some((1024, Radix::Decimal)));
        assert_eq!(sysctl_ulong(" 1024\n"), Some((1024, Radix::Decimal)));
        assert_eq!(sysctl_ulong("0x400"), Some((1024, Radix::Hex)));
        assert_eq!(sysctl_ulong("01024"), Some((532, Radix::Octal)));
        assert_eq!(sysctl_ulong("0"), Some((0, Radix::Decimal)));
        assert_eq!(sysctl_ulong("08"), None);
        assert_eq!(sysctl_ulong("-1"), None);
        assert_eq!(sysctl_ulong("1024 pages"), None);
        assert_eq!(sysctl_ulong(""), None);
    }

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
