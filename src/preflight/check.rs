//! Facts -> findings: pure, no I/O. Every sentence comes from [`super::words`].

use super::words;
use super::{Missing, NodeFacts, Volume, codes};
use crate::base::longhorn::{
    DEFAULT_V2_MIN_HUGEPAGES_BYTES, HUGEPAGE_BYTES, hugepages_for, v2_modules_to_load,
};
use crate::base::talos::{
    REQUIRED_EXTENSIONS, hugepages_patch, modules_patch, volume_mount_point, volume_name_of,
};
use crate::base::upstream;
use crate::talos::{self, Finding, LintOptions, Severity};

/// What `talos preflight` checks beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The V2 data engine's prerequisites.
    pub v2: bool,
    /// Longhorn's disk paths.
    pub disk_paths: Vec<String>,
    /// Lint the running machine config.
    pub read_config: bool,
    /// The namespace Longhorn is installed in (for `talos lint` of the running config).
    pub longhorn_namespace: String,
}

fn finding(
    node: &str,
    severity: Severity,
    code: &'static str,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        code,
        file: node.to_string(),
        line: None,
        document: None,
        message,
        fix,
    }
}

/// The findings about one node.
pub fn check(facts: &NodeFacts, options: &Options) -> Vec<Finding> {
    let node = facts.node.as_str();
    let mut out = Vec::new();
    let version = match &facts.version {
        Ok(v) => v.clone(),
        Err(why) => {
            out.push(finding(
                node,
                Severity::Error,
                codes::UNREADABLE,
                words::unreadable(why),
                None,
            ));
            return out;
        }
    };
    let mut skipped: Vec<(&str, &Missing)> = Vec::new();

    // Extensions, open-iscsi, iscsid.
    let iscsi_tools = match &facts.extensions {
        Ok(list) => {
            let missing: Vec<&str> = REQUIRED_EXTENSIONS
                .into_iter()
                .filter(|full| {
                    let name = full.strip_prefix("siderolabs/").unwrap_or(full);
                    !list.iter().any(|e| e.name == name)
                })
                .collect();
            if !missing.is_empty() {
                out.push(finding(
                    node,
                    Severity::Error,
                    codes::MISSING_EXTENSIONS,
                    words::missing_extensions(&version, &missing, list),
                    Some(words::schematic_fix(list, &missing)),
                ));
            }
            Some(list.iter().any(|e| e.name == "iscsi-tools"))
        }
        Err(why) => {
            skipped.push((words::CHECK_EXTENSIONS, why));
            None
        }
    };
    let release = version.trim_start_matches('v');
    if iscsi_tools != Some(false)
        && let Some(tools) = upstream::iscsi_tools_of(release)
        && tools.breaks_attach()
    {
        out.push(finding(
            node,
            Severity::Error,
            codes::OPEN_ISCSI_2_1_12,
            words::open_iscsi(release),
            Some(words::upgrade_fix(node, release)),
        ));
    }
    match &facts.services {
        Ok(services) => {
            let running = |id: &str| services.iter().any(|s| s.id == id && s.running);
            if iscsi_tools == Some(true) && !running("ext-iscsid") {
                out.push(finding(
                    node,
                    Severity::Error,
                    codes::ISCSID,
                    words::iscsid_not_running(facts.iscsid.as_ref()),
                    Some(words::service_fix(node, "ext-iscsid")),
                ));
            }
            if running("ext-multipathd") {
                out.push(finding(
                    node,
                    Severity::Warning,
                    codes::MULTIPATHD,
                    words::multipathd_running(facts.multipath_config.as_ref()),
                    Some(words::multipath_fix()),
                ));
            }
        }
        Err(why) => skipped.push((words::CHECK_SERVICES, why)),
    }

    if options.v2 {
        check_v2(facts, node, &mut out, &mut skipped);
    }
    check_disks(facts, node, options, &mut out, &mut skipped);

    match &facts.machine_config {
        Some(Ok(yaml)) => {
            let name = words::running_config_name(node);
            match talos::load(&[(name.clone(), yaml.clone())]) {
                Ok(config) => out.extend(talos::lint(
                    &config,
                    &LintOptions {
                        v2: options.v2,
                        longhorn_namespace: options.longhorn_namespace.clone(),
                        talos_api_access: None,
                    },
                )),
                Err(e) => out.push(finding(
                    node,
                    Severity::Error,
                    talos::codes::TALOS_REFUSES,
                    e.to_string(),
                    None,
                )),
            }
        }
        Some(Err(why)) => skipped.push((words::CHECK_CONFIG, why)),
        None => {}
    }

    for (what, why) in skipped {
        out.push(finding(
            node,
            Severity::Note,
            codes::SKIPPED,
            words::skipped(what, why),
            None,
        ));
    }
    out
}

fn check_v2<'a>(
    facts: &'a NodeFacts,
    node: &str,
    out: &mut Vec<Finding>,
    skipped: &mut Vec<(&'static str, &'a Missing)>,
) {
    match &facts.modules {
        Ok(modules) => {
            let live = |name: &str| {
                upstream::talos_builds_in(name)
                    || modules.iter().any(|m| {
                        m.name.replace('-', "_") == name
                            && matches!(m.state.to_ascii_lowercase().as_str(), "live" | "built-in")
                    })
            };
            let wanted = v2_modules_to_load();
            if !live("vfio_pci") && !live("uio_pci_generic") {
                out.push(finding(
                    node,
                    Severity::Error,
                    codes::V2_MODULES,
                    words::v2_modules(),
                    Some(modules_patch(&wanted, false)),
                ));
            } else if !live("uio_pci_generic") {
                out.push(finding(
                    node,
                    Severity::Warning,
                    codes::V2_UIO,
                    words::v2_uio(),
                    Some(modules_patch(&["uio_pci_generic"], false)),
                ));
            }
        }
        Err(why) => skipped.push((words::CHECK_MODULES, why)),
    }
    match &facts.hugepages {
        // /proc/meminfo counts only the default size's pool; the V2 data
        // engine uses 2 MiB pages, invisible when the default is another size.
        Some(Ok(h)) if h.size_kib != HUGEPAGE_BYTES / 1024 => {
            out.push(finding(
                node,
                Severity::Note,
                codes::SKIPPED,
                words::hugepages_other_size(h),
                None,
            ));
        }
        Some(Ok(h)) => {
            let need_bytes = DEFAULT_V2_MIN_HUGEPAGES_BYTES;
            let have_bytes = h.reserved.saturating_mul(h.size_kib).saturating_mul(1024);
            if have_bytes < need_bytes {
                let pages = hugepages_for(need_bytes);
                out.push(finding(
                    node,
                    Severity::Error,
                    codes::V2_HUGEPAGES,
                    words::hugepages(h, pages),
                    Some(hugepages_patch(pages, false)),
                ));
            }
        }
        Some(Err(why)) => skipped.push((words::CHECK_HUGEPAGES, why)),
        None => {}
    }
}

fn check_disks<'a>(
    facts: &'a NodeFacts,
    node: &str,
    options: &Options,
    out: &mut Vec<Finding>,
    skipped: &mut Vec<(&'static str, &'a Missing)>,
) {
    let (volumes, mounts) = match (&facts.volumes, &facts.mounts) {
        (Ok(v), Ok(m)) => (v, m),
        (Err(why), _) | (_, Err(why)) => {
            skipped.push((words::CHECK_DISKS, why));
            return;
        }
    };
    let ephemeral = volumes.iter().find(|v| v.id == "EPHEMERAL");
    for path in &options.disk_paths {
        if let Some(name) = volume_name_of(path) {
            let target = volume_mount_point(name);
            let volume = VOLUME_PREFIXES
                .iter()
                .find_map(|p| volumes.iter().find(|v| v.id == format!("{p}{name}")));
            let id = volume.map_or_else(|| format!("u-{name}"), |v| v.id.clone());
            match volume {
                None => out.push(finding(
                    node,
                    Severity::Warning,
                    codes::NO_VOLUME,
                    words::no_volume(path, name, ephemeral),
                    Some(words::user_volume_fix(name)),
                )),
                Some(v) if v.phase == "failed" || v.phase != "ready" => out.push(finding(
                    node,
                    Severity::Error,
                    codes::VOLUME_FAILED,
                    words::volume_not_ready(path, name, v),
                    Some(words::volume_status_fix(node, &id)),
                )),
                Some(v) if v.kind == "directory" => out.push(finding(
                    node,
                    Severity::Warning,
                    codes::DIRECTORY_VOLUME,
                    words::directory_volume(path, name, ephemeral),
                    None,
                )),
                Some(v) if !mounts.iter().any(|m| m.id == id && m.target == target) => {
                    out.push(finding(
                        node,
                        Severity::Error,
                        codes::VOLUME_FAILED,
                        words::volume_not_mounted(path, name, v),
                        Some(words::volume_status_fix(node, &id)),
                    ))
                }
                Some(_) => {}
            }
        } else {
            // A mount of its own (not EPHEMERAL at /var) under the path's parents.
            let own = mounts.iter().any(|m| {
                m.id != "EPHEMERAL"
                    && m.target != "/var"
                    && m.target != "/"
                    && (path == &m.target || path.starts_with(&format!("{}/", m.target)))
            });
            if !own {
                out.push(finding(
                    node,
                    Severity::Note,
                    codes::ON_EPHEMERAL,
                    words::on_ephemeral(path, ephemeral),
                    None,
                ));
            }
        }
    }
}

/// The volumes Talos mounts at `/var/mnt/<name>`: user (`u-`), existing
/// (`e-`) and external (`x-`) volumes (siderolabs/talos
/// `internal/app/machined/pkg/controllers/block/internal/volumes/volumeconfig/user_volumes.go`,
/// v1.14.0-rc.1; prefixes in pkg/machinery `constants/constants.go`, v1.14.1).
const VOLUME_PREFIXES: [&str; 3] = ["u-", "e-", "x-"];

/// A volume's size as Talos prints it, or its bytes.
pub(super) fn size_of(v: &Volume) -> String {
    if v.pretty_size.is_empty() {
        format!("{} bytes", v.size)
    } else {
        v.pretty_size.clone()
    }
}
