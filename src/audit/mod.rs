//! `audit`: judges what already exists in a cluster, with the registry's
//! rules (the webhook's messages) and translations of Longhorn's own node and
//! disk status into the Talos fix; output as text, JSON or PolicyReports.
//!
//! The core ([`audit`]) is pure: an [`Inventory`] of objects read before the
//! call, the configuration, and structured [`Finding`]s out. Reading the
//! cluster is [`collect`]; the background loop of `serve` is [`background`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::check::sent_to_webhook;
use crate::cluster::node_hugepages;
use crate::config::Config;
use crate::pipeline;
use crate::policy::{FactQuery, Hugepages, Judgement, Kind, Phase, registry};

pub mod background;
pub mod collect;
pub mod finding;
pub mod longhorn;
pub mod nodes;
pub mod render;
pub mod report;
pub mod status;

#[cfg(test)]
mod tests;

/// The user the audit's requests are judged as (never exempt, never
/// Longhorn's own service account, so enforce-mode rules report as denials).
pub const AUDIT_USER: &str = "longhorn-talos-guard-audit";

pub use finding::{Finding, Inventory, ObjectRef, Outcome, Severity};

/// The controller that owns `object`, if any: its kind.
fn controller_kind(object: &Value) -> Option<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .and_then(|o| o["kind"].as_str())
}

/// True when the object's pod spec is judged through its controller already
/// (a pod of a DaemonSet, a ReplicaSet of a Deployment, a Job of a CronJob):
/// the template gives the same finding once instead of once per replica.
fn judged_through_owner(kind: Kind, object: &Value) -> bool {
    matches!(
        (kind, controller_kind(object)),
        (
            Kind::Pod,
            Some("DaemonSet" | "ReplicaSet" | "StatefulSet" | "Job")
        ) | (Kind::ReplicaSet, Some("Deployment"))
            | (Kind::Job, Some("CronJob"))
    )
}

/// Runs every registry rule of the validating webhook on `object` as a
/// CREATE of it now, and returns one finding per rule that would deny or
/// warn, with the webhook's text.
pub fn judge_object(
    object: &Value,
    cfg: &Config,
    hugepages: &BTreeMap<String, u64>,
) -> Vec<Finding> {
    let Some(kind) = pipeline::kind_of(object) else {
        return Vec::new();
    };
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
    if !sent_to_webhook(kind, object, namespace, cfg) || judged_through_owner(kind, object) {
        return Vec::new();
    }
    // The API server stored it, so its own schema accepted it; a shape the
    // rules cannot read is not a finding of theirs.
    let Ok(req) = pipeline::create_request(kind, object, namespace, AUDIT_USER) else {
        return Vec::new();
    };
    // What the object writes is read once, for the look-up and the rules.
    let writes = registry::writes(Phase::Validate, &req, cfg);
    let mut facts = pipeline::offline_facts("not read by the audit");
    for query in registry::fact_queries(Phase::Validate, &req, cfg, &writes) {
        // Node volumes stay unknown here: the audit reports each node's own
        // findings (LTG-P...) from the same facts instead.
        if let FactQuery::Hugepages(node) = query {
            facts.hugepages = Some(match hugepages.get(&node) {
                Some(bytes) => Hugepages::Known(*bytes),
                None => Hugepages::Unknown(format!("no Kubernetes Node named {node}")),
            });
        }
    }
    let judgement = registry::judge_writes(Phase::Validate, &req, cfg, &facts, &writes);
    findings(&judgement, cfg, &ObjectRef::of(object))
}

/// The findings of one judgement: each rule's denial (`fail`) and warnings
/// (`warn`), in the webhook's words ([`policy::RuleResult::answer`]).
pub fn findings(judgement: &Judgement, cfg: &Config, object: &ObjectRef) -> Vec<Finding> {
    let mut out = Vec::new();
    for result in &judgement.results {
        let answer = result.answer(cfg.host.as_ref());
        let finding = |result_kind, severity, message| Finding {
            policy: result.rule.id,
            rule: finding::rule_name(result.rule.id),
            result: result_kind,
            severity,
            object: object.clone(),
            message,
        };
        if let Some(message) = answer.denial {
            out.push(finding(Outcome::Fail, Severity::High, message));
        }
        for message in answer.warnings {
            out.push(finding(Outcome::Warn, Severity::Medium, message));
        }
    }
    out
}

/// The `hugepages-2Mi` of every Kubernetes Node of the inventory, by name.
pub fn hugepages_by_node(inventory: &Inventory) -> BTreeMap<String, u64> {
    inventory
        .kube_nodes
        .iter()
        .filter_map(|n| {
            let name = n["metadata"]["name"].as_str()?.to_string();
            let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(n.clone()).ok()?;
            Some((name, node_hugepages(&node).ok()?))
        })
        .collect()
}

/// Audits everything in the inventory: the registry's rules on every object
/// the webhooks would be sent, then Longhorn's own status; sorted by object,
/// then policy.
pub fn audit(inventory: &Inventory, cfg: &Config) -> Vec<Finding> {
    let hugepages = hugepages_by_node(inventory);
    let mut out = Vec::new();
    let objects = inventory
        .namespace
        .iter()
        .chain(&inventory.longhorn_nodes)
        .chain(&inventory.settings)
        .chain(&inventory.configmaps)
        .chain(&inventory.pods)
        .chain(&inventory.controllers)
        .chain(&inventory.kube_nodes);
    for object in objects {
        out.extend(judge_object(object, cfg, &hugepages));
    }
    for node in &inventory.longhorn_nodes {
        out.extend(status::translate(node, cfg));
    }
    out.sort_by(|a, b| (&a.object, a.policy, &a.message).cmp(&(&b.object, b.policy, &b.message)));
    out
}

/// The exit status for a set of findings: 0 clean, 1 findings.
pub fn exit_status(findings: &[Finding]) -> u8 {
    u8::from(!findings.is_empty())
}
