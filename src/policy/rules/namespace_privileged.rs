//! LTG-W002: the Longhorn namespace must run Pod Security `privileged`
//! (Talos defaults every namespace but kube-system to `baseline`); audit or
//! warn levels other than privileged get a warning.

use super::longhorn_namespace;
use crate::base::Level;
use crate::base::Mode;
use crate::base::longhorn::PSA_PREFIX;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::writes::Writes;
use crate::policy::{
    EnforceProblem, Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation,
};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W002",
    group: "namespacePodSecurity",
    default_mode: Mode::Enforce,
    summary: "the Longhorn namespace's effective Pod Security enforce level is privileged",
    phase: Phase::Validate,
    kinds: &[Kind::Namespace],
    operations: &[Operation::Create, Operation::Update],
    warn_only: nobody,
    facts: no_facts,
    check,
};

fn check(req: &Request<'_>, cfg: &Config, _: &Facts, _: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Subject::Namespace(pair) = &req.subject else {
        return out;
    };
    let Some(ns) = longhorn_namespace(req, pair, &cfg.longhorn_namespace) else {
        return out;
    };
    let name = cfg.longhorn_namespace.as_str();
    let labels = ns.metadata.labels.as_ref();
    let label = |mode: &str| labels.and_then(|l| l.get(format!("{PSA_PREFIX}{mode}").as_str()));
    let field = |mode: &str| format!("metadata.labels[\"{PSA_PREFIX}{mode}\"]");

    let enforce = label("enforce");
    let problem = match enforce {
        Some(v) => match Level::from_label(v) {
            Some(Level::Privileged) => None,
            Some(level) => Some(EnforceProblem::Level(level)),
            None => Some(EnforceProblem::Invalid(v.to_string())),
        },
        None if cfg.cluster_default_enforce == Level::Privileged => None,
        None => Some(EnforceProblem::Absent(cfg.cluster_default_enforce)),
    };
    if let Some(problem) = problem {
        out.violations.push(Violation {
            preexisting: false,
            field: field("enforce"),
            value: enforce.map(|v| v.to_string()).unwrap_or_default(),
            problem: Problem::NamespaceEnforce {
                namespace: name.to_string(),
                problem,
            },
        });
    }
    for noisy in ["audit", "warn"] {
        if let Some(v) = label(noisy).filter(|v| &***v != "privileged") {
            out.warnings.push(Violation {
                preexisting: false,
                field: field(noisy),
                value: v.to_string(),
                problem: Problem::NamespaceNoisyLabel {
                    namespace: name.to_string(),
                    mode: noisy,
                    value: v.to_string(),
                },
            });
        }
    }
    out
}
