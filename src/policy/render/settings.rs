//! Words for Longhorn's settings: LTG-W011 (the `default-data-path` Setting)
//! and LTG-W014 (the `longhorn-default-setting` ConfigMap, Helm's names).

use super::common::*;
use super::disks::{describe, ephemeral, own_disk_fix, path_fix};

/// The words of this family.
pub(super) static WORDS: Words = Words { denial, short };

fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    sentences(violations, layout, sentence)
}

/// A settings problem's denial: one whole sentence.
fn sentence(v: &Violation, layout: Option<&Layout>) -> Option<String> {
    Some(match &v.problem {
        Problem::DataPathSetting {
            setting,
            value,
            problem,
        } => setting_denial(setting, value, problem, layout),
        Problem::DiskEphemeral {
            source: DiskSource::Setting,
            node: setting,
            path,
            why,
            ..
        } => format!(
            "Longhorn setting {setting:?}: value {path:?} {}. Fix: {}",
            ephemeral(why),
            own_disk_fix(path, layout, Some(setting))
        ),
        Problem::DiskEphemeral {
            source: DiskSource::SettingsConfigMap,
            node: configmap,
            disk: setting,
            path,
            why,
        } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} sets {setting} to {path:?}, which {}. Fix: {}",
            ephemeral(why),
            own_disk_fix(path, layout, Some(&helm_setting(setting)))
        ),
        Problem::DefaultSettingPath {
            configmap,
            setting,
            value,
            problem,
        } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} sets {setting} to {value:?}, which {}; \
longhorn-manager creates that Setting from it, and a failure there stops the manager at start. Fix: {}",
            describe(problem),
            path_fix(&[problem], value, layout, Some(&helm_setting(setting)))
        ),
        Problem::DefaultSettingUnreadable { configmap, error } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} is not a YAML map of settings Longhorn can read \
({error}); longhorn-manager reads it at start and stops on the error. Fix: write it as a flat map of \
setting names, e.g. default-data-path: /var/mnt/longhorn (Helm: defaultSettings.defaultDataPath)."
        ),
        _ => return None,
    })
}

fn short(v: &Violation) -> String {
    match &v.problem {
        Problem::DataPathSetting { setting, value, .. } => setting_short(setting, value),
        Problem::DiskEphemeral {
            source: DiskSource::Setting,
            node,
            path,
            ..
        } => on_ephemeral_short(&format!("Longhorn setting {node}:"), path),
        Problem::DiskEphemeral {
            node, disk, path, ..
        } => on_ephemeral_short(&format!("ConfigMap {node}: {disk}"), path),
        Problem::DefaultSettingPath {
            configmap,
            setting,
            value,
            ..
        } => warning(format!(
            "ConfigMap {configmap}: {setting} {value:?} is not a usable data path on Talos"
        )),
        Problem::DefaultSettingUnreadable { configmap, .. } => warning(format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} is not readable YAML; longhorn-manager would not start"
        )),
        Problem::UnreleasedSetting { setting, .. } => warning(format!(
            "Longhorn {RELEASES} has no setting {setting}; engine binaries, sockets, logs stay in {DATA_PATH}"
        )),
        Problem::DefaultSettingUnreleased {
            configmap, setting, ..
        } => {
            let name = configmap.rsplit('/').next().unwrap_or(configmap);
            warning(format!(
                "ConfigMap {name}: Longhorn {RELEASES} skips {setting}; its files stay in {DATA_PATH}"
            ))
        }
        Problem::DefaultSettingIgnoredKey { configmap, key } => {
            let name = configmap.rsplit('/').next().unwrap_or(configmap);
            warning(format!(
                "ConfigMap {name}: data.{key} is ignored; Longhorn reads {DEFAULT_SETTING_KEY}"
            ))
        }
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// A setting as Longhorn's Helm chart names it: `default-data-path` is
/// `default-data-path (Helm: defaultSettings.defaultDataPath)`.
pub(super) fn helm_setting(setting: &str) -> String {
    let mut camel = String::new();
    let mut upper = false;
    for c in setting.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    format!("{setting} (Helm: defaultSettings.{camel})")
}

/// The denial for the `default-data-path` setting.
fn setting_denial(
    name: &str,
    value: &str,
    problem: &PathProblem,
    layout: Option<&Layout>,
) -> String {
    format!(
        "Longhorn setting {name:?}: value {value:?} {}. Fix: {}",
        describe(problem),
        path_fix(&[problem], value, layout, Some(name))
    )
}

/// The short form of [`setting_denial`].
fn setting_short(name: &str, value: &str) -> String {
    warning(format!(
        "Longhorn setting {name}: {value:?} is not a usable data path on Talos"
    ))
}
