//! LTG-W014: the `longhorn-default-setting` ConfigMap, which Longhorn's Helm
//! chart writes `defaultSettings` into and longhorn-manager turns into
//! Settings (at start, where any error is fatal, and on every change). It is
//! the object a person writes (`helm install`, Flux, Argo CD), so it is
//! judged at the door: a path setting (`default-data-path`, Longhorn 1.13's
//! `default-control-path`) gets the verdict the Setting would; an unreadable
//! `default-setting.yaml` is denied with the parser's position; a setting
//! written directly under `data:` gets a warning (Longhorn ignores it).

use std::collections::BTreeMap;

use crate::base::Mode;
use crate::base::longhorn::{DEFAULT_SETTING_CONFIGMAP, DEFAULT_SETTING_KEY, PATH_SETTINGS};
use crate::config::Config;
use crate::policy::disks::{DataPath, data_path};
use crate::policy::objects::ConfigMap;
use crate::policy::registry::{Outcome, Rule, no_facts, nobody};
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W014",
    group: "diskPaths",
    default_mode: Mode::Enforce,
    summary: "Longhorn's longhorn-default-setting ConfigMap holds readable, usable settings",
    phase: Phase::Validate,
    kinds: &[Kind::ConfigMap],
    operations: &[Operation::Create, Operation::Update],
    warn_only: nobody,
    facts: no_facts,
    check,
};

/// The settings of `default-setting.yaml`, as Longhorn reads them: a flat
/// map whose scalar values are taken as their text. `Err` holds the parser's
/// message with its position.
pub(crate) fn settings(cm: &ConfigMap) -> Option<Result<BTreeMap<String, String>, String>> {
    let text = cm.data.get(DEFAULT_SETTING_KEY)?;
    if text.trim().is_empty() {
        return Some(Ok(BTreeMap::new()));
    }
    let parsed: Result<BTreeMap<String, serde_json::Value>, _> = serde_saphyr::from_str(text);
    Some(match parsed {
        Err(e) => Err(crate::base::yaml::YamlError::from(&e).positioned()),
        Ok(map) => Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                serde_json::Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect()),
    })
}

/// The `longhorn-default-setting` ConfigMap of the Longhorn namespace, if
/// that is what the request writes, with its `namespace/name`.
pub(crate) fn default_setting_configmap<'r, 'a>(
    req: &'r Request<'a>,
    cfg: &Config,
) -> Option<(&'r ConfigMap<'a>, Option<&'r ConfigMap<'a>>, String)> {
    let Subject::ConfigMap(pair) = &req.subject else {
        return None;
    };
    let cm = pair.object.as_ref()?;
    let name = cm.metadata.name.as_deref().unwrap_or(&req.name);
    let ns = cm.metadata.namespace.as_deref().unwrap_or(&req.namespace);
    if name != DEFAULT_SETTING_CONFIGMAP || ns != cfg.longhorn_namespace {
        return None;
    }
    let old = match req.operation {
        Operation::Update => pair.old.as_ref(),
        _ => None,
    };
    Some((cm, old, format!("{ns}/{name}")))
}

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Some((cm, old, configmap)) = default_setting_configmap(req, cfg) else {
        return out;
    };
    for key in cm.data.keys().filter(|k| &***k != DEFAULT_SETTING_KEY) {
        out.warnings.push(Violation {
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
        if unchanged {
            out.warnings.push(Violation {
                field,
                value: value.clone(),
                problem: Problem::DefaultSettingPathUnchanged {
                    configmap,
                    setting,
                    value,
                },
            });
        } else {
            out.violations.push(Violation {
                field,
                value: value.clone(),
                problem: Problem::DefaultSettingPath {
                    configmap,
                    setting,
                    value,
                    problem,
                },
            });
        }
    }
    out
}
