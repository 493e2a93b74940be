//! What the audit reports and reads, as data: a [`Finding`] with its result
//! and severity, the object it is about, and the [`Inventory`] of objects.
//! Below every other audit module (moved here from `audit/mod.rs`, which
//! re-exports it).

use serde_json::Value;

use super::longhorn;

/// The short name of a finding's ID: a status translation's (`disk-wiped`),
/// else the registry rule's group (`diskPaths`).
pub fn rule_name(id: &str) -> &'static str {
    longhorn::name_of(id)
        .or_else(|| crate::policy::registry::rule(id).map(|r| r.group))
        .unwrap_or("unknown")
}

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
