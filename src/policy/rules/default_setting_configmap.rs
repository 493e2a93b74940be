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
use crate::base::longhorn::{DEFAULT_CONTROL_PATH_SETTING, DEFAULT_SETTING_KEY, PATH_SETTINGS};
use crate::config::Config;
use crate::policy::disks::{DataPath, data_path};
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
/// Moved to [`crate::policy::writes`]; re-exported for its callers.
pub use crate::policy::writes::read_default_settings;
use crate::policy::writes::{default_setting_configmap, settings};
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

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Some((cm, old, configmap)) = default_setting_configmap(req, cfg) else {
        return out;
    };
    for key in cm.data.keys().filter(|k| &***k != DEFAULT_SETTING_KEY) {
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
    let values = match settings(cm) {
        None => return out,
        Some(Err(error)) => {
            let unchanged = old.is_some_and(|o| {
                o.data.get(DEFAULT_SETTING_KEY) == cm.data.get(DEFAULT_SETTING_KEY)
            });
            let v = Violation {
                preexisting: false,
                field,
                value: String::new(),
                problem: Problem::DefaultSettingUnreadable { configmap, error },
            };
            if unchanged {
                out.warnings.push(v);
            } else {
                out.violations.push(v);
            }
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
    let before = old.and_then(settings).and_then(Result::ok);
    for setting in PATH_SETTINGS {
        let Some(value) = values.get(setting) else {
            continue;
        };
        let DataPath::Unusable(problem) = data_path(value, &cfg.allowed_mounts, cfg.host.as_ref())
        else {
            continue;
        };
        let unchanged = before.as_ref().and_then(|b| b.get(setting)) == Some(value);
        let (configmap, setting, value) = (configmap.clone(), setting.to_string(), value.clone());
        let field = format!("{field} {setting}");
        let violation = Violation {
            preexisting: unchanged,
            field,
            value: value.clone(),
            problem: Problem::DefaultSettingPath {
                configmap,
                setting,
                value,
                problem,
            },
        };
        out.add(violation);
    }
    out
}
