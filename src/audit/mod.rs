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
use crate::policy::{self, FactQuery, Hugepages, Judgement, Kind, Phase, registry};

pub mod background;
pub mod collect;
pub mod render;
pub mod report;
pub mod status;

#[cfg(test)]
mod tests;

/// The user the audit's requests are judged as (never exempt, never
/// Longhorn's own service account, so enforce-mode rules report as denials).
pub const AUDIT_USER: &str = "longhorn-talos-guard-audit";

/// How bad a finding is, in PolicyReport's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data is lost or Longhorn does not work.
    High,
    /// Works for now, at a cost (capacity, lifetime, noise).
    Medium,
    /// Worth knowing.
    Low,
}

impl Severity {
    /// The PolicyReport spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// A PolicyReport result: `fail` (the webhook would deny it, or Longhorn
/// reports it broken) or `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Requirements not met.
    Fail,
    /// Requirements not met, not scored (a warning of the webhook).
    Warn,
}

impl Outcome {
    /// The PolicyReport spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
        }
    }
}

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace` (absent for cluster-scoped objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`, when the object has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl ObjectRef {
    /// The reference of a Kubernetes object as read from the API.
    pub fn of(object: &Value) -> ObjectRef {
        let meta = &object["metadata"];
        ObjectRef {
            api_version: object["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind: object["kind"].as_str().unwrap_or_default().to_string(),
            namespace: meta["namespace"].as_str().map(str::to_string),
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            uid: meta["uid"].as_str().map(str::to_string),
        }
    }

    /// `kind namespace/name` (or `kind name`), for people.
    pub fn display(&self) -> String {
        let kind = match (self.api_version.split_once('/'), self.kind.as_str()) {
            (Some(("longhorn.io", _)), k) => format!("{}s.longhorn.io", k.to_lowercase()),
            _ => self.kind.clone(),
        };
        match &self.namespace {
            Some(ns) => format!("{kind} {ns}/{}", self.name),
            None => format!("{kind} {}", self.name),
        }
    }
}

/// One thing the audit found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule ID (`LTG-W010`) or the status translation's ID (`LTG-A001`).
    pub policy: &'static str,
    /// A short name of what was checked (`node-disk-paths`, `disk-wiped`).
    pub rule: &'static str,
    /// `fail` or `warn`.
    pub result: Outcome,
    /// `high`, `medium` or `low`.
    pub severity: Severity,
    /// The object.
    pub object: ObjectRef,
    /// The whole message, with its fix.
    pub message: String,
}

/// What the audit reads, as the API returned it (JSON objects with
/// `apiVersion` and `kind` set).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The Longhorn namespace, if it exists.
    pub namespace: Option<Value>,
    /// `nodes.longhorn.io` of the Longhorn namespace.
    pub longhorn_nodes: Vec<Value>,
    /// `settings.longhorn.io` of the Longhorn namespace.
    pub settings: Vec<Value>,
    /// ConfigMaps of the Longhorn namespace (only `longhorn-default-setting` is judged).
    pub configmaps: Vec<Value>,
    /// Pods of the Longhorn namespace.
    pub pods: Vec<Value>,
    /// DaemonSets, Deployments, StatefulSets, ReplicaSets, Jobs and CronJobs
    /// of the Longhorn namespace.
    pub controllers: Vec<Value>,
    /// Kubernetes Nodes.
    pub kube_nodes: Vec<Value>,
}

impl Inventory {
    /// Counts of what was read, for the summary line: `(noun, count)`.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("namespace", usize::from(self.namespace.is_some())),
            ("Longhorn nodes", self.longhorn_nodes.len()),
            ("settings", self.settings.len()),
            ("ConfigMaps", self.configmaps.len()),
            ("pods", self.pods.len()),
            ("pod controllers", self.controllers.len()),
            ("Kubernetes nodes", self.kube_nodes.len()),
        ]
    }
}

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
    let mut facts = pipeline::offline_facts("not read by the audit");
    for query in registry::fact_queries(Phase::Validate, &req, cfg) {
        let FactQuery::Hugepages(node) = query;
        facts.hugepages = Some(match hugepages.get(&node) {
            Some(bytes) => Hugepages::Known(*bytes),
            None => Hugepages::Unknown(format!("no Kubernetes Node named {node}")),
        });
    }
    let judgement = policy::judge(Phase::Validate, &req, cfg, &facts);
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
            rule: render::rule_name(result.rule.id),
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
