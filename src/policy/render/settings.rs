//! Words for Longhorn's settings: LTG-W011 (the `default-data-path` Setting)
//! and LTG-W014 (the `longhorn-default-setting` ConfigMap, Helm's names).

use super::*;

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
pub fn setting_denial(
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
pub fn setting_short(name: &str, value: &str) -> String {
    warning(format!(
        "Longhorn setting {name}: {value:?} is not a usable data path on Talos"
    ))
}
