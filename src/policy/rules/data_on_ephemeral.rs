//! LTG-W013: a new disk path that works but keeps its data on the EPHEMERAL
//! partition (a folder under `/var` or `/opt`, a `/var/mnt/<x>` the machine
//! config declares no volume for, a `directory` user volume): it shares the
//! system disk's capacity and is wiped by `talosctl reset`. Warns by default;
//! `policies: {LTG-W013: enforce}` makes it deny. Longhorn's own
//! `/var/lib/longhorn` (its Talos guide's path) is not flagged.

use super::node_name;
use crate::base::Mode;
use crate::base::longhorn::PATH_SETTINGS;
use crate::config::Config;
use crate::policy::disks::{DiskContext, DiskToJudge, DiskType, ephemeral_disks};
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::violation::DiskSource;
use crate::policy::writes::{annotated, default_setting_configmap, node_disks, settings};
use crate::policy::{Facts, Kind, Operation, Phase, Request, Subject};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W013",
    group: "diskPaths",
    default_mode: Mode::Warn,
    summary: "new Longhorn data paths are not plain folders on the EPHEMERAL partition",
    phase: Phase::Validate,
    kinds: &[
        Kind::LonghornNode,
        Kind::LonghornSetting,
        Kind::KubeNode,
        Kind::ConfigMap,
    ],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let layout = cfg.host.as_ref();
    let violations = match &req.subject {
        Subject::LonghornNode(pair) => {
            let Some(node) = &pair.object else {
                return Outcome::default();
            };
            let name = node_name(req, node);
            let ctx = DiskContext {
                source: DiskSource::LonghornNode,
                node: name,
                mounts: cfg.mounts_for_node(name),
                layout,
            };
            let disks = node_disks(req, pair);
            ephemeral_disks(
                &ctx,
                |disk| format!("spec.disks.{disk}.path"),
                disks.iter().map(|(disk, d, judged)| DiskToJudge {
                    name: disk,
                    path: &d.path,
                    disk_type: d.kind(),
                    judged: *judged,
                }),
            )
        }
        Subject::LonghornSetting(pair) => {
            let Some(setting) = &pair.object else {
                return Outcome::default();
            };
            let name = req.name_of(setting.metadata.name.as_deref());
            let Some(value) = setting
                .value
                .as_deref()
                .filter(|_| PATH_SETTINGS.contains(&name))
            else {
                return Outcome::default();
            };
            let changed = req.operation == Operation::Create
                || pair.old.as_ref().and_then(|o| o.value.as_deref()) != Some(value);
            let ctx = DiskContext {
                source: DiskSource::Setting,
                node: name,
                mounts: &cfg.allowed_mounts,
                layout,
            };
            ephemeral_disks(
                &ctx,
                |_| "value".into(),
                [DiskToJudge {
                    name,
                    path: value,
                    disk_type: DiskType::Filesystem,
                    judged: changed,
                }],
            )
        }
        Subject::KubeNode(_) => {
            let Some(a) = annotated(req) else {
                return Outcome::default();
            };
            let Ok(disks) = &a.disks else {
                return Outcome::default();
            };
            let named = a.to_judge(disks);
            let ctx = DiskContext {
                source: DiskSource::DefaultDisks,
                node: a.node,
                mounts: cfg.mounts_for_node(a.node),
                layout,
            };
            ephemeral_disks(
                &ctx,
                |_| a.field.clone(),
                named.iter().map(|(name, path, disk_type)| DiskToJudge {
                    name,
                    path,
                    disk_type: *disk_type,
                    judged: a.judged,
                }),
            )
        }
        Subject::ConfigMap(_) => {
            let Some((cm, old, configmap)) = default_setting_configmap(req, cfg) else {
                return Outcome::default();
            };
            let Some(Ok(values)) = settings(cm) else {
                return Outcome::default();
            };
            let before = old.and_then(settings).and_then(Result::ok);
            let ctx = DiskContext {
                source: DiskSource::SettingsConfigMap,
                node: &configmap,
                mounts: &cfg.allowed_mounts,
                layout,
            };
            let judged: Vec<DiskToJudge> = PATH_SETTINGS
                .iter()
                .filter_map(|s| {
                    let value = values.get(*s)?;
                    Some(DiskToJudge {
                        name: s,
                        path: value,
                        disk_type: DiskType::Filesystem,
                        judged: before.as_ref().and_then(|b| b.get(*s)) != Some(value),
                    })
                })
                .collect();
            ephemeral_disks(
                &ctx,
                |s| format!("data[\"default-setting.yaml\"] {s}"),
                judged,
            )
        }
        _ => Vec::new(),
    };
    Outcome {
        violations,
        ..Outcome::default()
    }
}
