//! LTG-W011: Longhorn's `default-data-path` setting (where Longhorn creates
//! the default disk of every node) must not be where a disk fails or loses its
//! data on Talos. An unchanged bad value only warns. A `default-control-path`
//! Setting, which no released Longhorn has, gets a warning that it is ignored.

use crate::base::Mode;
use crate::base::longhorn::{DEFAULT_CONTROL_PATH_SETTING, PATH_SETTINGS};
use crate::config::Config;
use crate::policy::disks::{DataPath, data_path};
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
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

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
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
    if !PATH_SETTINGS.contains(&name) {
        return out;
    }
    let Some(value) = setting.value.as_deref() else {
        return out;
    };
    let DataPath::Unusable(problem) = data_path(value, &cfg.allowed_mounts, cfg.host.as_ref())
    else {
        return out;
    };
    let unchanged = req.operation == Operation::Update
        && pair.old.as_ref().and_then(|o| o.value.as_deref()) == Some(value);
    let violation = Violation {
        preexisting: unchanged,
        field: "value".into(),
        value: value.to_string(),
        problem: Problem::DataPathSetting {
            setting: name.to_string(),
            value: value.to_string(),
            problem,
        },
    };
    out.add(violation);
    out
}
