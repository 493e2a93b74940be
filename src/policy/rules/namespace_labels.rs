//! LTG-W001: the mutating webhook adds whichever of the six Pod Security
//! labels Longhorn recommends is missing on its namespace; it never
//! overrides a value.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation};
use serde_json::{Map, Value};

use super::longhorn_namespace;
use crate::base::Mode;
use crate::base::longhorn::NAMESPACE_LABELS;
use crate::config::Config;
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::writes::Writes;
use crate::policy::{Facts, Kind, Operation, Phase, Request, Subject};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W001",
    group: "namespacePodSecurity",
    default_mode: Mode::Enforce,
    summary: "add the six Pod Security labels Longhorn recommends to its namespace",
    phase: Phase::Mutate,
    kinds: &[Kind::Namespace],
    operations: &[Operation::Create, Operation::Update],
    warn_only: nobody,
    facts: no_facts,
    check,
};

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

fn check(req: &Request<'_>, cfg: &Config, _: &Facts, _: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Subject::Namespace(pair) = &req.subject else {
        return out;
    };
    let Some(ns) = longhorn_namespace(req, pair, &cfg.longhorn_namespace) else {
        return out;
    };
    match &ns.metadata.labels {
        None => {
            let labels: Map<String, Value> = NAMESPACE_LABELS
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect();
            out.patch.push(add(
                PointerBuf::from_tokens(["metadata", "labels"]),
                Value::Object(labels),
            ));
        }
        Some(labels) => {
            for (key, value) in NAMESPACE_LABELS {
                if !labels.contains_key(key) {
                    out.patch.push(add(
                        PointerBuf::from_tokens(["metadata", "labels", key]),
                        Value::from(value),
                    ));
                }
            }
        }
    }
    out
}
