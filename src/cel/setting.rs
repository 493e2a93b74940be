//! LTG-W011: Longhorn's `default-data-path` setting, judged in CEL by the
//! Talos host model's tables (see [`super::paths`]).

use super::expr::{PLACEHOLDER, first_sentence_of, list, lit, quote, summary};
use super::paths::{self, Code, MAX_COMPONENTS, MAX_PATH_BYTES};
use super::{RuleCel, TWO_VAR_MINOR, resource_rule};
use crate::base::PathError;
use crate::base::longhorn::PATH_SETTINGS;
use crate::config::Config;
use crate::host::{DEV_FILESYSTEMS, TMPFS};
use crate::policy::render;
use crate::policy::{PathProblem, Problem, Violation};

/// The rule's ID.
pub const ID: &str = "LTG-W011";

/// The path problem a code stands for (`None`: the CEL-only bound).
pub(super) fn problem_of(code: Code) -> Option<PathProblem> {
    Some(match code {
        Code::Empty => PathProblem::Invalid(PathError::Empty.to_string()),
        Code::Nul => PathProblem::Invalid(PathError::Nul.to_string()),
        Code::Relative => PathProblem::Invalid(PathError::Relative.to_string()),
        Code::Bound => return None,
        Code::Root => PathProblem::Root,
        Code::Tmpfs(i) => PathProblem::Tmpfs(TMPFS[i]),
        Code::Dev => PathProblem::DevFs,
        Code::Kernel => PathProblem::KernelFs,
        Code::ReadOnly => PathProblem::ReadOnlyRoot,
        Code::NotDevice => PathProblem::NotDevice,
        Code::DevFilesystem(i) => PathProblem::DevFilesystem {
            mount: DEV_FILESYSTEMS[i].0,
            fs: DEV_FILESYSTEMS[i].1,
        },
    })
}

/// The sentence of the CEL-only denial past the bounds: `what` is the
/// subject (`Longhorn setting "default-data-path": the value`).
pub(super) fn bound_sentence(what: &str) -> String {
    format!(
        "{what} is past what the CEL policy judges within the API server's cost budget (longer than {MAX_PATH_BYTES} bytes, or more than {MAX_COMPONENTS} components with \"//\", \".\" or \"..\"); the guard's webhook judges it."
    )
}

fn sentence(cfg: &Config, setting: &str, code: Code) -> String {
    let Some(problem) = problem_of(code) else {
        return bound_sentence(&format!("Longhorn setting {setting:?}: the value"));
    };
    let v = Violation {
        field: "value".into(),
        value: PLACEHOLDER.into(),
        problem: Problem::DataPathSetting {
            setting: setting.to_string(),
            value: PLACEHOLDER.into(),
            problem,
        },
        preexisting: false,
    };
    summary(&render::denial(&[v], cfg.host.as_ref()))
}

/// LTG-W011.
pub(super) fn data_path(cfg: &Config) -> RuleCel {
    let name = "(has(request.name) && request.name != '' ? request.name : object.metadata.name)";
    let mut variables = vec![(
        "raw".to_string(),
        "has(object.value) ? {'value': object.value} : {}".to_string(),
    )];
    variables.extend(paths::cleaning_variables("path", "variables.raw"));
    let clean = "variables.pathClean[k]";
    variables.push((
        "problem".into(),
        format!(
            "variables.raw.transformMap(k, v,\n{})",
            paths::data_path_code("v", clean, &paths::within_any(clean, &cfg.allowed_mounts))
        ),
    ));
    variables.push(("quotedValue".into(), quote("object.value")));
    let code = "variables.problem['value']";
    let expression = format!(
        "!('value' in variables.problem) || {code} == ''\n  || (request.operation == 'UPDATE' && has(oldObject.value) && oldObject.value == object.value)"
    );
    let mut by_setting = String::new();
    for (i, setting) in PATH_SETTINGS.iter().enumerate() {
        let text = paths::message_by_code(
            code,
            &Code::filesystem(),
            &[(PLACEHOLDER, "variables.quotedValue")],
            |c| sentence(cfg, setting, c),
        );
        if i + 1 == PATH_SETTINGS.len() {
            by_setting.push_str(&format!("({text})"));
        } else {
            by_setting.push_str(&format!("{name} == {} ? ({text})\n: ", lit(setting)));
        }
    }
    variables.push(("sentence".into(), by_setting));
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources: resource_rule("longhorn.io", "v1beta2", &["settings"]),
        namespaced: true,
        conditions: vec![(
            "path-setting",
            format!("{name} in {}", list(&PATH_SETTINGS)),
        )],
        variables,
        // A value holding ". " ends the webhook's first sentence there.
        validation: (
            expression,
            format!(
                "'LTG-W011: ' + ({})",
                first_sentence_of("variables.sentence")
            ),
        ),
        message:
            "LTG-W011: the data path setting is where Longhorn's data fails or is lost on Talos"
                .into(),
        fail_open: false,
    }
}
