//! LTG-W014: the `longhorn-default-setting` ConfigMap, which Longhorn's Helm
//! chart writes `defaultSettings` into and longhorn-manager turns into
//! Settings (at start, where any error is fatal, and on every change). It is
//! the object a person writes (`helm install`, Flux, Argo CD), so it is
//! judged at the door: a path setting (`default-data-path`) gets the verdict
//! the Setting would; `default-control-path`, which no released Longhorn has,
//! gets a warning that Longhorn skips it; an unreadable
//! `default-setting.yaml` is denied with the parser's position; a setting
//! written directly under `data:` gets a warning (Longhorn ignores it).

use crate::base::Mode;
use crate::base::longhorn::{DEFAULT_CONTROL_PATH_SETTING, DEFAULT_SETTING_KEY};
use crate::config::Config;
use crate::policy::disks::DiskClass;
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
use crate::policy::writes::Writes;
/// Moved to [`crate::policy::writes`]; re-exported for its callers.
pub use crate::policy::writes::read_default_settings;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W014",
    group: "diskPaths",
    default_mode: Mode::Enforce,
    summary: "Longhorn's longhorn-default-setting ConfigMap holds readable, usable settings",
    phase: Phase::Validate,
    kinds: &[Kind::ConfigMap],
    operations: &[Operation::Create, Operation::Update],
    // Helm, Flux and Argo CD write this ConfigMap under their own accounts;
    // longhorn-manager only reads it. A denial under a Longhorn account would
    // reach no person and could only stop Longhorn: a warning.
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

fn check(_: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(cm) = &writes.settings else {
        return out;
    };
    let configmap = &cm.configmap;
    for key in &cm.ignored_keys {
        out.warnings.push(Violation {
            preexisting: false,
            field: format!("data[\"{key}\"]"),
            value: String::new(),
            problem: Problem::DefaultSettingIgnoredKey {
                configmap: configmap.clone(),
                key: key.to_string(),
            },
        });
    }
    let field = format!("data[\"{DEFAULT_SETTING_KEY}\"]");
    let values = match &cm.values {
        None => return out,
        Some(Err(error)) => {
            // A text this request leaves as it was only warns.
            out.add(Violation {
                preexisting: cm.text_unchanged,
                field,
                value: String::new(),
                problem: Problem::DefaultSettingUnreadable {
                    configmap: configmap.clone(),
                    error: error.clone(),
                },
            });
            return out;
        }
        Some(Ok(s)) => s,
    };
    // longhorn-manager (types/setting.go GetCustomizedDefaultSettings, then
    // datastore filterCustomizedDefaultSettings) drops an undefined key and
    // applies the others.
    if let Some(value) = values.get(DEFAULT_CONTROL_PATH_SETTING) {
        out.warnings.push(Violation {
            preexisting: false,
            field: format!("{field} {DEFAULT_CONTROL_PATH_SETTING}"),
            value: value.clone(),
            problem: Problem::DefaultSettingUnreleased {
                configmap: configmap.clone(),
                setting: DEFAULT_CONTROL_PATH_SETTING.to_string(),
                value: value.clone(),
            },
        });
    }
    for d in writes.disks.iter().flat_map(|set| &set.disks) {
        if let DiskClass::Unusable(problem) = &d.class {
            out.add(Violation {
                preexisting: !d.judged,
                field: d.field.clone(),
                value: d.path.clone(),
                problem: Problem::DefaultSettingPath {
                    configmap: configmap.clone(),
                    setting: d.name.clone(),
                    value: d.path.clone(),
                    problem: problem.clone(),
                },
            });
        }
    }
    out
}
