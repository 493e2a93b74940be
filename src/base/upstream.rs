//! What this project read upstream, as data: the newest version of each
//! source and the per-release tables rules cite, so the next refresh is a diff.
//!
//! Tests and the README point here; a rule that depends on a release uses a
//! table below rather than its own version numbers.

/// One upstream source and the newest version of it this project read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// What it is, in a few words.
    pub what: &'static str,
    /// The GitHub repository (`owner/name`) or module it was read in.
    pub source: &'static str,
    /// The newest tag (or version) read.
    pub newest: &'static str,
    /// What that version was read for, or what could not be read.
    pub note: &'static str,
}

/// The newest upstream versions read, one row per source.
pub const READ: &[Read] = &[
    Read {
        what: "Longhorn (chart, deploy/longhorn.yaml)",
        source: "longhorn/longhorn",
        newest: "v1.12.1",
        note: "the snapshot read (master of 2026-08-21) has no v1.13.0 tag; v1.13.0 facts come from its release notes (FACTS.md)",
    },
    Read {
        what: "longhorn-manager",
        source: "longhorn/longhorn-manager",
        newest: "v1.12.1",
        note: "also v1.13.0-dev-20260712 and master of 2026-08-21; the v1.13.0 tag is not in the snapshot read",
    },
    Read {
        what: "Talos machinery (config generate, patch, load)",
        source: "github.com/siderolabs/talos/pkg/machinery",
        newest: "v1.14.1",
        note: "tests/talos-oracle/go.mod",
    },
    Read {
        what: "Talos system extensions",
        source: "siderolabs/extensions",
        newest: "v1.14.0-rc.1",
        note: "also v1.13.9; no v1.14.0 or later tag in the snapshot read (heads of release-1.13, release-1.14 and main of 2026-08-20)",
    },
    Read {
        what: "Talos kernel configs",
        source: "siderolabs/pkgs",
        newest: "v1.15.0-alpha.0",
        note: "kernel/build/config-amd64 and config-arm64 at every tag v1.9.0 to v1.15.0-alpha.0",
    },
    Read {
        what: "Kubernetes of the test control plane",
        source: "k8s.io/kubernetes",
        newest: "v1.37.2",
        note: "tests/envtest/go.mod; v1.34.4 (Longhorn 1.13's floor) in tests/envtest-1.34/go.mod; kubectl v1.30.14 in tests/kubectl-old/go.mod",
    },
];

/// The open-iscsi that one siderolabs/extensions tag builds into
/// `siderolabs/iscsi-tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IscsiTools {
    /// The extensions tag, which is the Talos release of the installer image
    /// (without the leading `v`).
    pub release: &'static str,
    /// `OPEN_ISCSI_VERSION` in `storage/iscsi-tools/vars.yaml`.
    pub open_iscsi: &'static str,
    /// Whether `storage/iscsi-tools/pkg.yaml` applies
    /// `patches/node-reopen-log-freq-compat.patch` (extensions commit 12c40337,
    /// backport 8135db0), which makes 2.1.12 read and write the old parameter name.
    pub compat_patch: bool,
}

impl IscsiTools {
    /// Whether iscsiadm of this release refuses the node records of other
    /// open-iscsi versions, so Longhorn's volumes stop attaching.
    pub fn breaks_attach(&self) -> bool {
        self.open_iscsi == "2.1.12" && !self.compat_patch
    }
}

/// open-iscsi per extensions tag, read at each tag in
/// siderolabs/extensions `storage/iscsi-tools/{vars.yaml,pkg.yaml,patches/}`,
/// from the last tag with 2.1.11 in each line to the newest tag read.
/// Every earlier tag (v1.9.0 to v1.13.7, v1.14.0-alpha.0 to -alpha.2) builds
/// 2.1.10 or 2.1.11.
pub const ISCSI_TOOLS: &[IscsiTools] = &[
    IscsiTools {
        release: "1.13.7",
        open_iscsi: "2.1.11",
        compat_patch: false,
    },
    IscsiTools {
        release: "1.13.8",
        open_iscsi: "2.1.12",
        compat_patch: false,
    },
    IscsiTools {
        release: "1.13.9",
        open_iscsi: "2.1.12",
        compat_patch: true,
    },
    IscsiTools {
        release: "1.14.0-alpha.2",
        open_iscsi: "2.1.11",
        compat_patch: false,
    },
    IscsiTools {
        release: "1.14.0-beta.0",
        open_iscsi: "2.1.12",
        compat_patch: false,
    },
    IscsiTools {
        release: "1.14.0-beta.1",
        open_iscsi: "2.1.12",
        compat_patch: false,
    },
    IscsiTools {
        release: "1.14.0-rc.1",
        open_iscsi: "2.1.12",
        compat_patch: true,
    },
];

/// The Talos releases whose iscsi-tools stop Longhorn's volumes attaching
/// ([`IscsiTools::breaks_attach`]), in table order.
pub fn iscsi_breaking_releases() -> impl Iterator<Item = &'static str> {
    ISCSI_TOOLS
        .iter()
        .filter(|t| t.breaks_attach())
        .map(|t| t.release)
}

/// The releases of the table that carry the compatibility patch.
pub fn iscsi_patched_releases() -> impl Iterator<Item = &'static str> {
    ISCSI_TOOLS
        .iter()
        .filter(|t| t.compat_patch)
        .map(|t| t.release)
}

/// [`iscsi_breaking_releases`] as prose: `1.13.8, 1.14.0-beta.0 and 1.14.0-beta.1`.
pub fn iscsi_breaking_text() -> String {
    joined(&iscsi_breaking_releases().collect::<Vec<_>>(), "and")
}

/// [`iscsi_patched_releases`] as prose: `1.13.9 or 1.14.0-rc.1`.
pub fn iscsi_patched_text() -> String {
    joined(&iscsi_patched_releases().collect::<Vec<_>>(), "or")
}

fn joined(items: &[&str], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [head @ .., last] => format!("{} {word} {last}", head.join(", ")),
    }
}

/// The iscsi-tools of a Talos release given as `1.<minor>.<patch>[-<pre>]`
/// (no `v`), when the table has it. A release not in the table is either
/// older (2.1.11 or earlier: fine), newer than the last tag read (the last
/// tags read and the branch heads all carry the patch: taken as fine), or a
/// pre-release tag that does not exist.
pub fn iscsi_tools_of(release: &str) -> Option<&'static IscsiTools> {
    ISCSI_TOOLS.iter().find(|t| t.release == release)
}

/// Kernel options Talos's kernel has built in (`=y`), so the module is always
/// present and cannot be loaded: siderolabs/pkgs `kernel/build/config-amd64`
/// and `config-arm64`, every tag v1.9.0 to v1.15.0-alpha.0.
/// Longhorn's environment check counts a `=y` option as loaded
/// (longhorn-manager `controller/monitor/environment_check_monitor.go`,
/// `checkKernelModuleEnabled`, v1.12.1; Talos has `CONFIG_IKCONFIG_PROC=y`,
/// so `/proc/config.gz` is there to read).
pub const TALOS_BUILT_IN_MODULES: [(&str, &str); 1] = [("nvme_tcp", "CONFIG_NVME_TCP")];

/// Whether `module` is built into Talos's kernel ([`TALOS_BUILT_IN_MODULES`]);
/// `-` and `_` are the same in module names.
pub fn talos_builds_in(module: &str) -> bool {
    let key = module.replace('-', "_");
    TALOS_BUILT_IN_MODULES.iter().any(|(m, _)| *m == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broken_releases_are_those_read() {
        // siderolabs/extensions storage/iscsi-tools/vars.yaml and pkg.yaml at v1.13.8,
        // v1.14.0-beta.0, v1.14.0-beta.1: 2.1.12 without node-reopen-log-freq-compat.patch.
        assert_eq!(
            iscsi_breaking_releases().collect::<Vec<_>>(),
            ["1.13.8", "1.14.0-beta.0", "1.14.0-beta.1"]
        );
        assert_eq!(
            iscsi_patched_releases().collect::<Vec<_>>(),
            ["1.13.9", "1.14.0-rc.1"]
        );
        assert!(iscsi_tools_of("1.14.0").is_none());
    }

    #[test]
    fn nvme_tcp_is_built_in() {
        // siderolabs/pkgs kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y, CONFIG_VFIO_PCI=m.
        assert!(talos_builds_in("nvme_tcp"));
        assert!(talos_builds_in("nvme-tcp"));
        assert!(!talos_builds_in("vfio_pci"));
        assert!(!talos_builds_in("uio_pci_generic"));
    }
}
