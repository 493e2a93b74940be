//! LTG-W015: a Longhorn node disk that a request adds or changes at
//! `/var/mnt/<name>` while the node itself, read through the Talos API by the
//! guard's node reader, reports no ready volume `<name>` mounted there: the
//! data would land on the EPHEMERAL partition. Only fresh facts count (the
//! edge drops stale ones); without them the rule says nothing. Warns by
//! default; `policies: {LTG-W015: enforce}` makes it deny.

use crate::base::Mode;
use crate::base::talos::volume_name_of;
use crate::config::Config;
use crate::host::Behind;
use crate::policy::disks::DiskClass;
use crate::policy::rule::{Outcome, Rule, longhorn_itself};
use crate::policy::violation::{DiskSource, EphemeralWhy};
use crate::policy::writes::{DiskSet, Writes, WrittenDisk};
use crate::policy::{FactQuery, Facts, Kind, Operation, Phase, Problem, Request, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W015",
    group: "diskPaths",
    default_mode: Mode::Warn,
    summary: "a new Longhorn disk at /var/mnt/<name> has a ready volume <name> on its node, as the node reported it (fresh Talos API facts)",
    phase: Phase::Validate,
    kinds: &[Kind::LonghornNode],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts,
    check,
};

/// The Longhorn node's disks, when the request writes them.
fn node_set<'w>(writes: &'w Writes<'_>) -> Option<&'w DiskSet> {
    writes
        .disks
        .as_ref()
        .filter(|s| s.source == DiskSource::LonghornNode)
}

/// The filesystem disks this request adds or changes under `/var/mnt/<name>`,
/// with `<name>` (a disk the path rules find unusable, or of a type the
/// guard does not know, is theirs to report).
fn judged_volumes(set: &DiskSet) -> impl Iterator<Item = (&WrittenDisk, &str)> {
    set.disks.iter().filter_map(|d| {
        let judged = d.judged
            && !d.block
            && !matches!(d.class, DiskClass::Unusable(_) | DiskClass::UnknownType(_));
        judged
            .then(|| volume_name_of(&d.path).map(|name| (d, name)))
            .flatten()
    })
}

/// The node's reported volumes, when the request adds or changes a
/// filesystem disk under `/var/mnt/<name>`.
fn facts(_: &Request<'_>, _: &Config, writes: &Writes<'_>) -> Vec<FactQuery> {
    match node_set(writes) {
        Some(set) if judged_volumes(set).next().is_some() => {
            vec![FactQuery::NodeVolumes(set.node.clone())]
        }
        _ => Vec::new(),
    }
}

fn check(_: &Request<'_>, _: &Config, facts: &Facts, writes: &Writes<'_>) -> Outcome {
    let (Some(set), Some(reported)) = (node_set(writes), &facts.node_volumes) else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    for (d, volume) in judged_volumes(set) {
        let behind = reported.behind(volume);
        if behind == Behind::OwnVolume {
            continue;
        }
        out.add(Violation {
            preexisting: false,
            field: d.field.clone(),
            value: d.path.clone(),
            problem: Problem::DiskEphemeral {
                source: DiskSource::LonghornNode,
                node: set.node.clone(),
                disk: d.name.clone(),
                path: d.path.clone(),
                why: EphemeralWhy::NodeReports(volume.to_string(), behind),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::ReportedVolumes;
    use crate::policy::objects::{LonghornDisk, LonghornNode, LonghornNodeSpec, Meta};
    use crate::policy::{Pair, Subject, evaluate, judge};

    /// A Longhorn node `talos-w1` with one filesystem disk `d` at `path`.
    fn node(path: &str) -> LonghornNode<'static> {
        LonghornNode {
            metadata: Meta {
                name: Some("talos-w1".into()),
                namespace: Some("longhorn-system".into()),
            },
            spec: LonghornNodeSpec {
                disks: [(
                    "d".into(),
                    LonghornDisk {
                        path: path.to_string().into(),
                        disk_type: None,
                    },
                )]
                .into_iter()
                .collect(),
            },
        }
    }

    /// A CREATE of `path`, or an UPDATE from `old` to it.
    fn request(path: &str, old: Option<&str>) -> Request<'static> {
        Request {
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            name: "talos-w1".into(),
            namespace: "longhorn-system".into(),
            username: "admin".into(),
            subject: Subject::LonghornNode(Pair {
                object: Some(node(path)),
                old: old.map(node),
            }),
        }
    }

    fn ready(name: &str) -> ReportedVolumes {
        ReportedVolumes {
            volumes: vec![(format!("u-{name}"), "ready".into(), "partition".into())],
            mounts: vec![(format!("u-{name}"), format!("/var/mnt/{name}"))],
        }
    }

    fn run(req: &Request<'_>, reported: Option<ReportedVolumes>) -> (Vec<FactQuery>, Outcome) {
        let cfg = Config::default();
        let writes = Writes::read(req, &cfg);
        let asked = (RULE.facts)(req, &cfg, &writes);
        let facts = Facts {
            node_volumes: reported,
            ..Facts::default()
        };
        let judgement = judge(Phase::Validate, req, &cfg, &facts);
        let outcome = judgement
            .of(&RULE)
            .map(|r| r.outcome.clone())
            .unwrap_or_default();
        (asked, outcome)
    }

    const DATA: &str = "/var/mnt/data";

    #[test]
    fn a_new_disk_without_a_reported_volume_warns_and_asks_for_the_node() {
        let (asked, outcome) = run(&request(DATA, None), Some(ready("longhorn")));
        assert_eq!(asked, vec![FactQuery::NodeVolumes("talos-w1".into())]);
        assert_eq!(outcome.violations.len(), 1, "{outcome:?}");
        assert!(matches!(
            &outcome.violations[0].problem,
            Problem::DiskEphemeral { why: EphemeralWhy::NodeReports(n, Behind::Nothing), .. } if n == "data"
        ));
        // The default mode is warn: a warning, never a denial.
        assert_eq!(RULE.default_mode, Mode::Warn);
    }

    #[test]
    fn enforced_its_denial_says_what_the_node_reported() {
        let cfg = Config::from_yaml("policies: {LTG-W015: enforce}", "t").expect("config");
        let facts = Facts {
            node_volumes: Some(ready("longhorn")),
            ..Facts::default()
        };
        let verdict = evaluate(Phase::Validate, &request(DATA, None), &cfg, &facts);
        let denial = verdict.denial.expect("denied when enforced");
        assert!(
            denial.contains("is under /var/mnt/data, and the node reports no volume data (talosctl get volumestatus u-data)"),
            "{denial}"
        );
        assert_eq!(verdict.denied_by, ["LTG-W015"]);
    }

    #[test]
    fn a_ready_volume_stale_or_missing_facts_and_unchanged_disks_say_nothing() {
        let (_, ok) = run(&request(DATA, None), Some(ready("data")));
        assert_eq!(ok, Outcome::default());
        // No fresh facts (not read, or stale: the edge gives None).
        let (asked, none) = run(&request(DATA, None), None);
        assert_eq!(asked.len(), 1);
        assert_eq!(none, Outcome::default());
        // The disk was there before this update: not judged, nothing asked.
        let (asked, unchanged) = run(&request(DATA, Some(DATA)), Some(ready("longhorn")));
        assert!(asked.is_empty());
        assert_eq!(unchanged, Outcome::default());
        // A disk outside /var/mnt is another rule's business.
        let (asked, _) = run(
            &request("/var/lib/longhorn", None),
            Some(ReportedVolumes::default()),
        );
        assert!(asked.is_empty());
    }
}
