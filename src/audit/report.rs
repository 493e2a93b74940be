//! Findings as `wgpolicyk8s.io/v1alpha2` PolicyReport objects (the format
//! Kyverno and Kubewarden write, read by policy-reporter and dashboards): a
//! `PolicyReport` in the Longhorn namespace for its objects, a
//! `ClusterPolicyReport` for cluster-scoped ones (the namespace, Nodes).
//!
//! Fields follow the v1alpha2 API types of kubernetes-sigs/wg-policy-prototypes
//! (`policy-report/pkg/api/wgpolicyk8s.io/v1alpha2`): top-level `scope`,
//! `summary` {pass, fail, warn, error, skip} and `results`, each with
//! `source`, `policy`, `rule`, `category`, `severity`, `result`, `message`,
//! `resources` (ObjectReferences) and `timestamp` {seconds, nanos}.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::finding::{Finding, Outcome};

/// `apiVersion` of the reports.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// The API group.
pub const GROUP: &str = "wgpolicyk8s.io";
/// `source` of every result, and the reports' name.
pub const SOURCE: &str = "longhorn-talos-guard";
/// `category` of every result.
pub const CATEGORY: &str = "Longhorn on Talos";
/// The label naming who writes the reports (as Kyverno sets it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "longhorn-talos-guard");

/// A PolicyReport's or ClusterPolicyReport's metadata, as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (PolicyReport only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.resourceVersion`, for an update in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// `summary`: counts of results by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Requirements met.
    #[serde(default)]
    pub pass: u64,
    /// Requirements not met.
    #[serde(default)]
    pub fail: u64,
    /// Not met, not scored.
    #[serde(default)]
    pub warn: u64,
    /// Could not be evaluated.
    #[serde(default)]
    pub error: u64,
    /// Not selected.
    #[serde(default)]
    pub skip: u64,
}

/// A core/v1 ObjectReference of a result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `timestamp` (a protobuf Timestamp).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timestamp {
    /// Unix seconds.
    #[serde(default)]
    pub seconds: i64,
    /// Nanoseconds.
    #[serde(default)]
    pub nanos: i32,
}

/// One result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    /// The engine: `longhorn-talos-guard`.
    #[serde(default)]
    pub source: String,
    /// The rule ID (`LTG-W010`) or translation ID (`LTG-A001`).
    #[serde(default)]
    pub policy: String,
    /// Its short name.
    #[serde(default)]
    pub rule: String,
    /// `Longhorn on Talos`.
    #[serde(default)]
    pub category: String,
    /// `high`, `medium` or `low`.
    #[serde(default)]
    pub severity: String,
    /// `fail` or `warn`.
    #[serde(default)]
    pub result: String,
    /// Scored results count against compliance; warnings are not scored.
    #[serde(default)]
    pub scored: bool,
    /// The message with its fix.
    #[serde(default)]
    pub message: String,
    /// The object.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// When the result was first found (kept while it stays the same).
    #[serde(default)]
    pub timestamp: Timestamp,
}

impl ReportResult {
    fn key(&self) -> (&str, &[Resource], &str, &str) {
        (&self.policy, &self.resources, &self.result, &self.message)
    }
}

/// A PolicyReport or ClusterPolicyReport.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `wgpolicyk8s.io/v1alpha2`.
    pub api_version: String,
    /// `PolicyReport` or `ClusterPolicyReport`.
    pub kind: String,
    /// Its metadata.
    pub metadata: Meta,
    /// The counts.
    #[serde(default)]
    pub summary: Summary,
    /// The results.
    #[serde(default)]
    pub results: Vec<ReportResult>,
}

impl Report {
    fn new(kind: &str, namespace: Option<&str>) -> Report {
        Report {
            api_version: API_VERSION.to_string(),
            kind: kind.to_string(),
            metadata: Meta {
                name: SOURCE.to_string(),
                namespace: namespace.map(str::to_string),
                labels: BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]),
                resource_version: None,
            },
            ..Report::default()
        }
    }

    /// True when `other` reports the same results and counts (timestamps
    /// and metadata aside): then nothing is written.
    pub fn same_content(&self, other: &Report) -> bool {
        self.summary == other.summary
            && self.results.len() == other.results.len()
            && self
                .results
                .iter()
                .zip(&other.results)
                .all(|(a, b)| a.key() == b.key() && a.rule == b.rule && a.severity == b.severity)
    }

    /// Keeps the timestamp of every result that `previous` already had.
    pub fn keep_timestamps(&mut self, previous: &Report) {
        for r in &mut self.results {
            if let Some(old) = previous.results.iter().find(|o| o.key() == r.key()) {
                r.timestamp = old.timestamp;
            }
        }
    }
}

fn result_of(f: &Finding, now: Timestamp) -> ReportResult {
    ReportResult {
        source: SOURCE.to_string(),
        policy: f.policy.to_string(),
        rule: f.rule.to_string(),
        category: CATEGORY.to_string(),
        severity: f.severity.as_str().to_string(),
        result: f.result.as_str().to_string(),
        scored: f.result == Outcome::Fail,
        message: f.message.clone(),
        resources: vec![Resource {
            api_version: f.object.api_version.clone(),
            kind: f.object.kind.clone(),
            namespace: f.object.namespace.clone(),
            name: f.object.name.clone(),
            uid: f.object.uid.clone(),
        }],
        timestamp: now,
    }
}

/// The two reports of a run: the Longhorn namespace's `PolicyReport` and the
/// `ClusterPolicyReport`, each written even when empty (a clean report).
pub fn reports(findings: &[Finding], longhorn_namespace: &str, now: Timestamp) -> [Report; 2] {
    let mut namespaced = Report::new("PolicyReport", Some(longhorn_namespace));
    let mut cluster = Report::new("ClusterPolicyReport", None);
    for f in findings {
        // A namespaced report holds its namespace's objects only.
        let report = if f.object.namespace.as_deref() == Some(longhorn_namespace) {
            &mut namespaced
        } else {
            &mut cluster
        };
        match f.result {
            Outcome::Fail => report.summary.fail += 1,
            Outcome::Warn => report.summary.warn += 1,
        }
        report.results.push(result_of(f, now));
    }
    [namespaced, cluster]
}

/// The reports as a YAML stream (`audit -o yaml`).
pub fn to_yaml(reports: &[Report]) -> String {
    reports
        .iter()
        .map(|r| {
            let mut text = serde_saphyr::to_string(r).unwrap_or_default();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            format!("---\n{text}")
        })
        .collect()
}
