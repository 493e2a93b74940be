//! LTG-W014: the `longhorn-default-setting` ConfigMap, which Longhorn's Helm
//! chart writes `defaultSettings` into and longhorn-manager turns into
//! Settings (at start, where any error is fatal, and on every change). It is
//! the object a person writes (`helm install`, Flux, Argo CD), so it is
//! judged at the door: a path setting (`default-data-path`) gets the verdict
//! the Setting would; `default-control-path`, which no released Longhorn has,
//! gets a warning that Longhorn skips it; an unreadable
//! `default-setting.yaml` is denied with the parser's position; a setting
//! written directly under `data:` gets a warning (Longhorn ignores it).

use std::collections::BTreeMap;

use crate::base::Mode;
use crate::base::longhorn::{
    DEFAULT_CONTROL_PATH_SETTING, DEFAULT_SETTING_CONFIGMAP, DEFAULT_SETTING_KEY, PATH_SETTINGS,
};
use crate::config::Config;
use crate::policy::disks::{DataPath, data_path};
use crate::policy::objects::ConfigMap;
use crate::policy::rule::{Outcome, Rule, longhorn_itself, no_facts};
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
    // Helm, Flux and Argo CD write this ConfigMap under their own accounts;
    // longhorn-manager only reads it. A denial under a Longhorn account would
    // reach no person and could only stop Longhorn: a warning.
    warn_only: longhorn_itself,
    facts: no_facts,
    check,
};

/// The settings of `default-setting.yaml`, as Longhorn uses them: read by
/// [`read_default_settings`], each value trimmed of spaces and an empty one
/// dropped (`GetCustomizedDefaultSettings`, `types/setting.go`, v1.10 to
/// v1.12). `Err` holds the parser's message with its position.
pub(crate) fn settings(cm: &ConfigMap) -> Option<Result<BTreeMap<String, String>, String>> {
    let text = cm.data.get(DEFAULT_SETTING_KEY)?;
    Some(read_default_settings(text).map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| {
                let v = v.trim_matches(' ');
                (!v.is_empty()).then(|| (k, v.to_string()))
            })
            .collect()
    }))
}

/// Reads `default-setting.yaml` the way longhorn-manager does
/// (`util.GetDataContentFromYAML`: gopkg.in/yaml.v2 `Unmarshal` into
/// `map[string]string`, v1.10 to v1.12): every scalar is kept as written
/// (`True`, `0x10`, `1.50` stay text), `~` is an empty value, entries apply
/// in document order so the last of duplicate keys wins, a merge key (`<<`)
/// applies its map where it stands (overriding keys before it; of a list
/// of maps the first wins), only the first document is read, and a list or
/// map where a value should be is an error (Longhorn then uses none of the
/// settings; at start it does not start). `Err` holds the parser's message
/// with its position.
pub fn read_default_settings(text: &str) -> Result<BTreeMap<String, String>, String> {
    type Doc = Option<V2Map>;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
    };
    let position = |e: &serde_saphyr::Error| crate::base::yaml::YamlError::from(e).positioned();
    let doc: Doc = match serde_saphyr::from_str_with_options::<Doc>(text, options.clone()) {
        Ok(doc) => doc,
        Err(e) => {
            // A syntax error anywhere is named before a type error, as
            // yaml.v2 parses before it decodes.
            let parsed: Result<Vec<serde::de::IgnoredAny>, _> =
                serde_saphyr::from_str_multiple_with_options::<serde::de::IgnoredAny, _>(
                    text,
                    options.clone(),
                );
            if let Err(syntax) = parsed {
                return Err(position(&syntax));
            }
            // yaml.v2 reads the first document only.
            let docs: Vec<Doc> = serde_saphyr::from_str_multiple_with_options(text, options)
                .map_err(|_| position(&e))?;
            if docs.len() < 2 {
                return Err(position(&e));
            }
            docs.into_iter().next().flatten()
        }
    };
    Ok(doc.map(|m| m.0.into_iter().collect()).unwrap_or_default())
}

/// A YAML mapping read as yaml.v2 reads it into `map[string]string`: its
/// entries in the order they apply (merges expanded where they stand).
struct V2Map(Vec<(String, String)>);

struct V2MapVisitor;

impl<'de> serde::de::Visitor<'de> for V2MapVisitor {
    type Value = V2Map;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of setting names to values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<V2Map, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "<<" {
                entries.extend(map.next_value::<V2Merge>()?.0);
            } else {
                let value: Option<String> = map.next_value()?;
                entries.push((key, value.unwrap_or_default()));
            }
        }
        Ok(V2Map(entries))
    }
}

impl<'de> serde::Deserialize<'de> for V2Map {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(V2MapVisitor)
    }
}

/// The value of a merge key: a map, or a list of maps applied last to
/// first (yaml.v2 `decode.go` `merge`); anything else is an error.
struct V2Merge(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for V2Merge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = V2Merge;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map or a list of maps to merge")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<V2Merge, A::Error> {
                V2MapVisitor.visit_map(map).map(|m| V2Merge(m.0))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<V2Merge, A::Error> {
                let mut maps = Vec::new();
                while let Some(m) = seq.next_element::<V2Map>()? {
                    maps.push(m.0);
                }
                Ok(V2Merge(maps.into_iter().rev().flatten().collect()))
            }
        }
        d.deserialize_any(V)
    }
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
    let name = req.name_of(cm.metadata.name.as_deref());
    let ns = req.namespace_of(cm.metadata.namespace.as_deref());
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
