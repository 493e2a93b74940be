//! LTG-W011: Longhorn's `default-data-path` setting (where Longhorn creates
//! the default disk of every node) must not be where a disk fails or loses its
//! data on Talos. An unchanged bad value only warns. A `default-control-path`
//! Setting, which no released Longhorn has, gets a warning that it is ignored.

use crate::base::Mode;
use crate::base::longhorn::DEFAULT_CONTROL_PATH_SETTING;
use crate::config::Config;
use crate::policy::disks::DiskClass;
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::writes::Writes;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W011",
    group: "diskPaths",
    default_mode: Mode::Enforce,
    summary: "the default-data-path setting is not on the read-only root, a tmpfs or a kernel filesystem",
    phase: Phase::Validate,
    kinds: &[Kind::LonghornSetting],
    operations: &[Operation::Create, Operation::Update],
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

fn check(req: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Subject::LonghornSetting(pair) = &req.subject else {
        return out;
    };
    let Some(setting) = &pair.object else {
        return out;
    };
    let name = req.name_of(setting.metadata.name.as_deref());
    if name == DEFAULT_CONTROL_PATH_SETTING {
        let value = setting.value.as_deref().unwrap_or_default().to_string();
        out.warnings.push(Violation {
            preexisting: false,
            field: "metadata.name".into(),
            value: value.clone(),
            problem: Problem::UnreleasedSetting {
                setting: name.to_string(),
                value,
            },
        });
        return out;
    }
    let Some(set) = &writes.disks else {
        return out;
    };
    for d in &set.disks {
        if let DiskClass::Unusable(problem) = &d.class {
            out.add(Violation {
                preexisting: !d.judged,
                field: d.field.clone(),
                value: d.path.clone(),
                problem: Problem::DataPathSetting {
                    setting: d.name.clone(),
                    value: d.path.clone(),
                    problem: problem.clone(),
                },
            });
        }
    }
    out
}
