//! Longhorn data paths: the disks of `nodes.longhorn.io` objects and the
//! `default-data-path` setting must lie inside a host path the kubelet can see.

use super::messages::{self, PathProblem};
use super::objects::{LonghornDisk, LonghornNode, Setting};
use super::paths::{HostPath, is_pci_address};
use super::{Facts, Findings, Hugepages, Operation, Pair, Request, Verdict};
use crate::config::{AllowedMount, Config, Mode};

/// The Longhorn setting holding the data path of default disks.
pub const DEFAULT_DATA_PATH_SETTING: &str = "default-data-path";

/// The allowed mount that contains `path`, the most specific one first.
pub fn containing_mount<'m>(
    path: &HostPath,
    mounts: &'m [AllowedMount],
) -> Option<&'m AllowedMount> {
    mounts
        .iter()
        .filter(|m| path.is_within(&m.path))
        .max_by_key(|m| m.path.as_str().len())
}

/// Checks a filesystem data path against the allowed mounts.
pub fn check_data_path(raw: &str, mounts: &[AllowedMount]) -> Result<HostPath, PathProblem> {
    let path = HostPath::parse(raw).map_err(|e| PathProblem::Invalid(e.to_string()))?;
    if path.is_root() {
        return Err(PathProblem::Root);
    }
    match containing_mount(&path, mounts) {
        Some(_) => Ok(path),
        None => Err(PathProblem::Outside(messages::mount_list(mounts))),
    }
}

/// Checks a V2 block disk path: a device under `/dev/` or a PCI address.
pub fn check_block_path(raw: &str) -> Result<(), PathProblem> {
    if is_pci_address(raw) {
        return Ok(());
    }
    let path = HostPath::parse(raw).map_err(|e| PathProblem::Invalid(e.to_string()))?;
    if path.is_within_normalised("/dev") && path.as_str() != "/dev" {
        Ok(())
    } else {
        Err(PathProblem::NotDevice)
    }
}

fn check_disk(path: &str, block: bool, mounts: &[AllowedMount]) -> Result<(), PathProblem> {
    if block {
        check_block_path(path)
    } else {
        check_data_path(path, mounts).map(|_| ())
    }
}

/// One disk to judge: its name, path, whether it is a block disk, and
/// whether this request adds or changes it (ratcheting: only those deny).
pub(crate) struct DiskToJudge<'d> {
    pub name: &'d str,
    pub path: &'d str,
    pub block: bool,
    pub judged: bool,
}

/// The findings on a node's disks, with the problems behind the violations
/// and a path to show in the fix.
pub(crate) struct DiskFindings {
    pub findings: Findings,
    pub problems: Vec<PathProblem>,
    pub example: String,
}

/// Judges the disk paths of node `node` against `mounts`: a bad disk this
/// request adds or changes is a violation, one that was already there a warning.
pub(crate) fn judge_disks<'d>(
    node: &str,
    disks: impl IntoIterator<Item = DiskToJudge<'d>>,
    mounts: &[AllowedMount],
) -> DiskFindings {
    let mut findings = Findings::default();
    let mut problems = Vec::new();
    let mut example = None;
    for d in disks {
        let Err(problem) = check_disk(d.path, d.block, mounts) else {
            continue;
        };
        if d.judged {
            findings
                .violations
                .push(messages::disk_item(d.name, d.path, &problem));
            findings
                .short
                .push(messages::disk_item_short(node, d.name, d.path));
            if example.is_none() && problem != PathProblem::Root {
                example = HostPath::parse(d.path).ok();
            }
            problems.push(problem);
        } else {
            findings
                .warnings
                .push(messages::disk_preexisting(node, d.name, d.path));
        }
    }
    let example = example.map_or_else(|| "/var/lib/longhorn".to_string(), |p| p.to_string());
    DiskFindings {
        findings,
        problems,
        example,
    }
}

/// The disks of the new object, each with whether this request adds or
/// changes it (ratcheting: only those are judged).
fn disks<'p, 'a>(
    req: &Request<'_>,
    pair: &'p Pair<LonghornNode<'a>>,
) -> Vec<(&'p str, &'p LonghornDisk<'a>, bool)> {
    let Some(node) = &pair.object else {
        return Vec::new();
    };
    let old = match (req.operation, &pair.old) {
        (Operation::Update, Some(old)) => Some(&old.spec.disks),
        _ => None,
    };
    node.spec
        .disks
        .iter()
        .map(|(name, disk)| {
            let judged = match old.and_then(|o| o.get(name)) {
                Some(before) => before.path != disk.path || before.is_block() != disk.is_block(),
                None => true,
            };
            (&**name, disk, judged)
        })
        .collect()
}

fn node_name<'a>(req: &'a Request, node: &'a LonghornNode) -> &'a str {
    node.metadata.name.as_deref().unwrap_or(&req.name)
}

/// The node whose hugepages must be looked up: one with a new or changed block disk.
pub(crate) fn node_needing_hugepages(
    req: &Request<'_>,
    pair: &Pair<LonghornNode<'_>>,
) -> Option<String> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return None;
    }
    let node = pair.object.as_ref()?;
    disks(req, pair)
        .iter()
        .any(|(_, d, judged)| *judged && d.is_block())
        .then(|| node_name(req, node).to_string())
}

/// Judges the disks of a Longhorn node.
pub(crate) fn validate_node(
    req: &Request<'_>,
    pair: &Pair<LonghornNode<'_>>,
    cfg: &Config,
    facts: &Facts,
    verdict: &mut Verdict,
) {
    let Some(node) = &pair.object else {
        return;
    };
    let name = node_name(req, node);
    let mounts = cfg.mounts_for_node(name);
    let all = disks(req, pair);

    if cfg.policies.disk_paths != Mode::Off {
        let judged = all.iter().map(|(disk, d, judged)| DiskToJudge {
            name: disk,
            path: &d.path,
            block: d.is_block(),
            judged: *judged,
        });
        let DiskFindings {
            findings,
            problems,
            example,
        } = judge_disks(name, judged, mounts);
        let refs: Vec<&PathProblem> = problems.iter().collect();
        findings.apply(cfg.policies.disk_paths, verdict, |items| {
            messages::node_denial(name, items, &refs, &example)
        });
    }

    if cfg.policies.block_disks != Mode::Off {
        let need = cfg.v2_min_hugepages_bytes;
        let new_block: Vec<&str> = all
            .iter()
            .filter(|(_, d, judged)| *judged && d.is_block())
            .map(|(disk, _, _)| *disk)
            .collect();
        let mut findings = Findings::default();
        match (&facts.hugepages, new_block.is_empty()) {
            (_, true) => {}
            (Some(Hugepages::Known(have)), false) if *have < need => {
                for disk in &new_block {
                    findings
                        .violations
                        .push(messages::hugepages_item(disk, name, *have, need));
                }
                findings
                    .short
                    .push(messages::hugepages_short(name, *have, need));
            }
            (Some(Hugepages::Known(_)), false) => {}
            (Some(Hugepages::Unknown(why)), false) => {
                findings
                    .warnings
                    .push(messages::hugepages_unknown(name, why));
            }
            (None, false) => {
                findings
                    .warnings
                    .push(messages::hugepages_unknown(name, "no look-up was made"));
            }
        }
        findings.apply(cfg.policies.block_disks, verdict, |items| {
            messages::hugepages_denial(name, items)
        });
    }
}

/// Judges the `default-data-path` setting against the global allowed mounts.
pub(crate) fn validate_setting(
    req: &Request<'_>,
    pair: &Pair<Setting<'_>>,
    cfg: &Config,
    verdict: &mut Verdict,
) {
    let mode = cfg.policies.disk_paths;
    let Some(setting) = &pair.object else {
        return;
    };
    let name = setting.metadata.name.as_deref().unwrap_or(&req.name);
    if mode == Mode::Off || name != DEFAULT_DATA_PATH_SETTING {
        return;
    }
    let Some(value) = setting.value.as_deref() else {
        return;
    };
    let Err(problem) = check_data_path(value, &cfg.allowed_mounts) else {
        return;
    };
    let unchanged = req.operation == Operation::Update
        && pair.old.as_ref().and_then(|o| o.value.as_deref()) == Some(value);
    let mut findings = Findings::default();
    if unchanged {
        findings.warnings.push(messages::setting_short(name, value));
    } else {
        let example = HostPath::parse(value)
            .ok()
            .filter(|p| !p.is_root())
            .map_or_else(|| "/var/lib/longhorn".to_string(), |p| p.to_string());
        findings
            .violations
            .push(messages::setting_denial(name, value, &problem, &example));
        findings.short.push(messages::setting_short(name, value));
    }
    findings.apply(mode, verdict, |v| v.join("\n"));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::objects::{LonghornNodeSpec, Meta};
    use crate::policy::{Phase, Subject, evaluate};

    fn node(name: &str, disks: &[(&str, &str, &str)]) -> LonghornNode<'static> {
        LonghornNode {
            metadata: Meta {
                name: Some(name.to_string().into()),
                namespace: Some("longhorn-system".into()),
            },
            spec: LonghornNodeSpec {
                disks: disks
                    .iter()
                    .map(|(n, p, t)| {
                        (
                            n.to_string().into(),
                            LonghornDisk {
                                path: p.to_string().into(),
                                disk_type: (!t.is_empty()).then(|| t.to_string().into()),
                            },
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            },
        }
    }

    fn request(
        op: Operation,
        new: Option<LonghornNode<'static>>,
        old: Option<LonghornNode<'static>>,
    ) -> Request<'static> {
        Request {
            operation: op,
            name: "worker-1".into(),
            namespace: "longhorn-system".into(),
            username: "admin".into(),
            subject: Subject::LonghornNode(Pair { object: new, old }),
        }
    }

    fn create(disks: &[(&str, &str, &str)], cfg: &Config, facts: &Facts) -> Verdict {
        let req = request(Operation::Create, Some(node("worker-1", disks)), None);
        evaluate(Phase::Validate, &req, cfg, facts)
    }

    #[test]
    fn filesystem_path_table() {
        let cfg = Config::default();
        let cases = [
            ("/var/lib/longhorn", true, ""),
            ("/var/lib/longhorn/", true, ""),
            ("/var/lib/longhorn/disk-2", true, ""),
            ("/var/lib/longhorn/./x/../y", true, ""),
            (
                "/var/lib/longhorn2",
                false,
                "is outside the allowed mounts (/var/lib/longhorn)",
            ),
            (
                "/var/lib/longhorn/../etc",
                false,
                "is outside the allowed mounts",
            ),
            (
                "/var/lib/longhorn/../../../",
                false,
                "is / (the whole host)",
            ),
            ("/", false, "is / (the whole host)"),
            ("var/lib/longhorn", false, "the path is relative"),
            ("", false, "the path is empty"),
            (
                "/mnt/disk1",
                false,
                "sees only the host paths mounted into it",
            ),
        ];
        for (path, allowed, fragment) in cases {
            let v = create(&[("d1", path, "")], &cfg, &Facts::default());
            assert_eq!(v.allowed(), allowed, "{path:?}: {v:?}");
            if !allowed {
                let msg = v.denial.unwrap();
                assert!(msg.contains(fragment), "{path:?}: {msg}");
                assert!(
                    msg.starts_with("Longhorn node \"worker-1\": 1 disk problem:"),
                    "{msg}"
                );
                assert!(
                    msg.contains(&format!("disk \"d1\": path {path:?}")),
                    "{msg}"
                );
                assert!(msg.contains("\nFix: "), "{msg}");
            }
        }
    }

    #[test]
    fn outside_mount_fix_names_the_extra_mount() {
        let v = create(
            &[("d1", "/var/mnt/disk1/", "")],
            &Config::default(),
            &Facts::default(),
        );
        let msg = v.denial.unwrap();
        assert!(
            msg.contains("destination: /var/mnt/disk1, type: bind, source: /var/mnt/disk1, options: [bind, rshared, rw]"),
            "{msg}"
        );
        assert!(msg.contains("UserVolumeConfig"), "{msg}");
        assert!(msg.contains("allowedMounts"), "{msg}");
    }

    #[test]
    fn several_violations_in_one_message() {
        let v = create(
            &[
                ("a", "/var/lib/longhorn", ""),
                ("b", "/var/lib/longhorn2", ""),
                ("c", "relative/path", ""),
                ("d", "/data", "filesystem"),
            ],
            &Config::default(),
            &Facts::default(),
        );
        let msg = v.denial.unwrap();
        assert!(
            msg.starts_with("Longhorn node \"worker-1\": 3 disk problems:"),
            "{msg}"
        );
        for d in ["disk \"b\"", "disk \"c\"", "disk \"d\""] {
            assert!(msg.contains(d), "{d} missing in {msg}");
        }
        assert!(!msg.contains("disk \"a\""), "{msg}");
        assert!(msg.contains("absolute path"), "{msg}");
    }

    #[test]
    fn per_node_mounts_override_the_global_list() {
        let cfg = Config::from_yaml(
            "nodes: {worker-1: {allowedMounts: [{path: /var/mnt/longhorn}]}}",
            "t",
        )
        .unwrap();
        assert!(create(&[("d", "/var/mnt/longhorn/d", "")], &cfg, &Facts::default()).allowed());
        let v = create(&[("d", "/var/lib/longhorn", "")], &cfg, &Facts::default());
        assert!(v.denial.unwrap().contains("(/var/mnt/longhorn)"));
    }

    #[test]
    fn block_disks_table() {
        let cfg = Config::default();
        let enough = Facts {
            hugepages: Some(Hugepages::Known(2 << 30)),
        };
        let cases = [
            ("/dev/nvme0n1", true),
            ("/dev/disk/by-id/nvme-Samsung_SSD_980", true),
            ("0000:05:00.0", true),
            ("/dev", false),
            ("/dev/../etc/passwd", false),
            ("/var/lib/longhorn/block", false),
            ("nvme0n1", false),
        ];
        for (path, allowed) in cases {
            let v = create(&[("nvme", path, "block")], &cfg, &enough);
            assert_eq!(v.allowed(), allowed, "{path:?}: {v:?}");
        }
    }

    #[test]
    fn block_disk_needs_hugepages() {
        let cfg = Config::default();
        let req = request(
            Operation::Create,
            Some(node("worker-1", &[("nvme", "/dev/nvme0n1", "block")])),
            None,
        );
        assert_eq!(
            crate::policy::node_lookup(&req, &cfg).as_deref(),
            Some("worker-1")
        );

        let none = Facts {
            hugepages: Some(Hugepages::Known(0)),
        };
        let msg = evaluate(Phase::Validate, &req, &cfg, &none).denial.unwrap();
        assert!(msg.contains("reports no hugepages-2Mi"), "{msg}");
        assert!(msg.contains("vm.nr_hugepages: \"1024\""), "{msg}");
        assert!(
            msg.contains("nvme_tcp") && msg.contains("vfio_pci"),
            "{msg}"
        );

        let warn_cfg = Config::from_yaml("policies: {blockDisks: warn}", "t").unwrap();
        let v = evaluate(Phase::Validate, &req, &warn_cfg, &none);
        assert!(v.allowed());
        assert!(v.warnings[0].contains("hugepages-2Mi"), "{:?}", v.warnings);

        let unknown = Facts {
            hugepages: Some(Hugepages::Unknown("API server unreachable".into())),
        };
        let v = evaluate(Phase::Validate, &req, &cfg, &unknown);
        assert!(v.allowed(), "a failed look-up is reported, not guessed");
        assert!(
            v.warnings[0].contains("not verified")
                && v.warnings[0].contains("API server unreachable")
        );

        let off = Config::from_yaml("policies: {blockDisks: off}", "t").unwrap();
        assert_eq!(crate::policy::node_lookup(&req, &off), None);
    }

    #[test]
    fn filesystem_disks_need_no_lookup() {
        let req = request(
            Operation::Create,
            Some(node("worker-1", &[("d", "/var/lib/longhorn", "")])),
            None,
        );
        assert_eq!(crate::policy::node_lookup(&req, &Config::default()), None);
    }

    #[test]
    fn update_is_ratcheting() {
        let cfg = Config::default();
        let old = node("worker-1", &[("legacy", "/mnt/old", "")]);
        // Longhorn's own update (scheduling flag etc.) with the old bad disk: allowed, warned.
        let same = node("worker-1", &[("legacy", "/mnt/old", "")]);
        let v = evaluate(
            Phase::Validate,
            &request(Operation::Update, Some(same), Some(old.clone())),
            &cfg,
            &Facts::default(),
        );
        assert!(v.allowed());
        assert_eq!(v.warnings.len(), 1);
        assert!(
            v.warnings[0].contains("existing path \"/mnt/old\""),
            "{:?}",
            v.warnings
        );

        // Adding a good disk next to it: allowed.
        let added = node(
            "worker-1",
            &[("legacy", "/mnt/old", ""), ("new", "/var/lib/longhorn", "")],
        );
        assert!(
            evaluate(
                Phase::Validate,
                &request(Operation::Update, Some(added), Some(old.clone())),
                &cfg,
                &Facts::default()
            )
            .allowed()
        );

        // Adding a bad disk: denied, naming only the new one.
        let bad = node(
            "worker-1",
            &[("legacy", "/mnt/old", ""), ("new", "/mnt/new", "")],
        );
        let msg = evaluate(
            Phase::Validate,
            &request(Operation::Update, Some(bad), Some(old.clone())),
            &cfg,
            &Facts::default(),
        )
        .denial
        .unwrap();
        assert!(
            msg.contains("disk \"new\"") && !msg.contains("disk \"legacy\""),
            "{msg}"
        );

        // Changing the path of an existing disk to another bad one: denied.
        let moved = node("worker-1", &[("legacy", "/mnt/other", "")]);
        assert!(
            !evaluate(
                Phase::Validate,
                &request(Operation::Update, Some(moved), Some(old)),
                &cfg,
                &Facts::default()
            )
            .allowed()
        );
    }

    #[test]
    fn delete_is_allowed() {
        let req = request(
            Operation::Delete,
            None,
            Some(node("worker-1", &[("d", "/bad", "")])),
        );
        assert!(evaluate(Phase::Validate, &req, &Config::default(), &Facts::default()).allowed());
    }

    fn setting_request(op: Operation, value: &str, old: Option<&str>) -> Request<'static> {
        let s = |v: &str| Setting {
            metadata: Meta {
                name: Some(DEFAULT_DATA_PATH_SETTING.into()),
                namespace: Some("longhorn-system".into()),
            },
            value: Some(v.to_string().into()),
        };
        Request {
            operation: op,
            name: DEFAULT_DATA_PATH_SETTING.into(),
            namespace: "longhorn-system".into(),
            username: "admin".into(),
            subject: Subject::LonghornSetting(Pair {
                object: Some(s(value)),
                old: old.map(s),
            }),
        }
    }

    #[test]
    fn default_data_path_setting() {
        let cfg = Config::default();
        let judge = |req: Request| evaluate(Phase::Validate, &req, &cfg, &Facts::default());
        assert!(
            judge(setting_request(
                Operation::Create,
                "/var/lib/longhorn/",
                None
            ))
            .allowed()
        );
        let msg = judge(setting_request(
            Operation::Update,
            "/var/lib/longhorn2/",
            Some("/var/lib/longhorn/"),
        ))
        .denial
        .unwrap();
        assert!(
            msg.starts_with(
                "Longhorn setting \"default-data-path\": value \"/var/lib/longhorn2/\" is outside"
            ),
            "{msg}"
        );
        assert!(msg.contains("destination: /var/lib/longhorn2"), "{msg}");
        // Under /var/mnt the fix names the user volume Talos would mount there.
        let msg = judge(setting_request(Operation::Create, "/var/mnt/fast/", None))
            .denial
            .unwrap();
        assert!(
            msg.contains("a Talos UserVolumeConfig named fast (Talos mounts it at /var/mnt/fast)"),
            "{msg}"
        );
        // Unchanged bad value: ratcheted to a warning.
        let v = judge(setting_request(Operation::Update, "/data", Some("/data")));
        assert!(v.allowed() && v.warnings.len() == 1, "{v:?}");
    }

    #[test]
    fn other_settings_are_ignored() {
        let mut req = setting_request(Operation::Create, "/nowhere", None);
        if let Subject::LonghornSetting(pair) = &mut req.subject {
            pair.object.as_mut().unwrap().metadata.name = Some("v2-data-engine".into());
        }
        assert_eq!(
            evaluate(Phase::Validate, &req, &Config::default(), &Facts::default()),
            Verdict::default()
        );
    }
}
