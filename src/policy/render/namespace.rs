//! Words for the Longhorn namespace's Pod Security labels: LTG-W001 (the
//! labels it adds) and LTG-W002 (an enforce level other than privileged, noisy
//! audit and warn levels).

use super::common::*;

/// The words of this family.
pub(super) static WORDS: Words = Words { denial, short };

fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    sentences(violations, layout, |v, _| match &v.problem {
        Problem::NamespaceEnforce { namespace, problem } => {
            Some(namespace_enforce(namespace, problem))
        }
        _ => None,
    })
}

fn short(v: &Violation) -> String {
    match &v.problem {
        Problem::NamespaceEnforce { namespace, problem } => {
            namespace_enforce_short(namespace, problem)
        }
        Problem::NamespaceNoisyLabel {
            namespace,
            mode,
            value,
        } => namespace_noisy_label(namespace, mode, value),
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// Why Longhorn needs `privileged`, in one clause.
pub(super) const WHY_PRIVILEGED: &str = "Longhorn's manager, instance-manager and CSI plugin pods run privileged \
containers with hostPath volumes, which Pod Security baseline and restricted reject";

/// The denial for a Longhorn namespace that would not run privileged.
fn namespace_enforce(ns: &str, problem: &EnforceProblem) -> String {
    let label = format!("{PSA_PREFIX}enforce");
    let what = match problem {
        EnforceProblem::Level(level) => {
            format!(
                "label {label} is {:?}, but Longhorn needs \"privileged\"",
                level.as_str()
            )
        }
        EnforceProblem::Invalid(value) => format!(
            "label {label} is {value:?}, which is not a Pod Security level (privileged, baseline or \
restricted, lower case); the API server treats it as \"restricted\""
        ),
        EnforceProblem::Absent(default) => format!(
            "label {label} is missing, so the cluster default {:?} applies (Talos defaults every \
namespace but kube-system to baseline)",
            default.as_str()
        ),
    };
    format!(
        "namespace {ns:?}: {what}. {WHY_PRIVILEGED}, so Longhorn would fail to start or upgrade. \
Fix: label the namespace privileged, e.g. kubectl label --overwrite namespace {ns} \
{label}=privileged (Longhorn recommends enforce, audit and warn privileged, each -version latest)"
    )
}

/// The short form of [`namespace_enforce`].
fn namespace_enforce_short(ns: &str, problem: &EnforceProblem) -> String {
    let value = match problem {
        EnforceProblem::Level(level) => level.as_str().to_string(),
        EnforceProblem::Invalid(value) => format!("{value:?} (invalid)"),
        EnforceProblem::Absent(default) => format!("unset, default {default}"),
    };
    warning(format!(
        "namespace {ns}: pod-security enforce is {value}; Longhorn needs privileged"
    ))
}

/// A warning for audit/warn labels that will flag every Longhorn pod.
fn namespace_noisy_label(ns: &str, mode: &str, value: &str) -> String {
    warning(format!(
        "namespace {ns}: {PSA_PREFIX}{mode}={value} will report every Longhorn pod; use privileged"
    ))
}
