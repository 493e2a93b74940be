//! The background audit of `serve --audit-interval`: one replica at a time
//! (a `coordination.k8s.io` Lease), the findings written as PolicyReports
//! updated in place (no write when nothing changed), and metrics.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp as Now;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};

use super::report::{self, GROUP, Report, Timestamp};
use super::{Finding, audit, collect, nodes};
use crate::source::ConfigSource;

/// Findings of the last run, by policy and severity.
pub const FINDINGS: &str = "ltg_audit_findings";
/// Unix time of the last run that read the cluster and wrote its reports.
pub const LAST_SUCCESS: &str = "ltg_audit_last_success_timestamp_seconds";
/// Runs, by result (`ok`, `error`, `standby` when another replica holds the lease).
pub const RUNS: &str = "ltg_audit_runs_total";

/// The Lease that elects the one replica that audits.
pub const LEASE_NAME: &str = "longhorn-talos-guard-audit";

/// What the loop needs.
#[derive(Clone)]
pub struct Options {
    /// Time between runs.
    pub interval: Duration,
    /// Namespace of the Lease (the guard's own).
    pub lease_namespace: String,
    /// This replica's name in the Lease.
    pub identity: String,
    /// The nodes read through the Talos API (`serve --read-nodes`), if so.
    pub nodes: Option<NodeAudit>,
}

/// What the audit adds when the guard reads its nodes.
#[derive(Clone)]
pub struct NodeAudit {
    /// The nodes' facts, kept by the reader.
    pub store: Arc<super::nodes::NodeStore>,
    /// Namespace of the guard's `talos.dev` ServiceAccount.
    pub account_namespace: String,
    /// Its name (and its Secret's).
    pub account_name: String,
}

impl Options {
    /// The Lease's duration: two intervals, at least 15 s, so a replica that
    /// stopped is replaced after at most that long.
    pub fn lease_seconds(&self) -> i32 {
        (self.interval.as_secs().saturating_mul(2)).clamp(15, i32::MAX as u64) as i32
    }
}

/// This process's name for the Lease: `$POD_NAME`, else the host name, with
/// the process id (two guards on one host are two holders).
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "longhorn-talos-guard".to_string());
    format!("{host}_{}", std::process::id())
}

/// What happened to one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// It did not exist and was created.
    Created,
    /// Its results changed and it was replaced.
    Updated,
    /// Nothing changed: no write.
    Unchanged,
}

impl Written {
    /// For the log: `created`, `updated` or `unchanged`; `skipped` when the
    /// report was not written (no Longhorn namespace).
    pub fn describe(written: Option<Written>) -> &'static str {
        match written {
            Some(Written::Created) => "created",
            Some(Written::Updated) => "updated",
            Some(Written::Unchanged) => "unchanged",
            None => "skipped",
        }
    }
}

fn micro_now() -> MicroTime {
    MicroTime(Now::now())
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Takes or renews the Lease; `false` when another replica holds it.
pub async fn hold_lease(client: &kube::Client, opts: &Options) -> Result<bool, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &opts.lease_namespace);
    let now = micro_now();
    let mine = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(opts.identity.clone()),
        lease_duration_seconds: Some(opts.lease_seconds()),
        acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
        renew_time: Some(now.clone()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    let Some(mut lease) = api.get_opt(LEASE_NAME).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.into()),
                namespace: Some(opts.lease_namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(mine(0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 409) => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(secs)) => {
            Now::now().as_second() > renewed.0.as_second() + i64::from(secs)
        }
        _ => true,
    };
    if holder != opts.identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    let transitions = spec.lease_transitions.unwrap_or(0);
    lease.spec = Some(if holder == opts.identity {
        mine(transitions, spec.acquire_time.clone())
    } else {
        mine(transitions + 1, None)
    });
    match api
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_status(&e, 409) => Ok(false),
        Err(e) => Err(e),
    }
}

fn report_api(client: &kube::Client, report: &Report) -> Api<DynamicObject> {
    let kind = report.kind.as_str();
    let resource = ApiResource {
        group: GROUP.into(),
        version: "v1alpha2".into(),
        api_version: report::API_VERSION.into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    match &report.metadata.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

fn dynamic(report: &Report) -> Result<DynamicObject, kube::Error> {
    serde_json::to_value(report)
        .and_then(serde_json::from_value)
        .map_err(kube::Error::SerdeError)
}

/// Creates the report, or replaces it when its results changed; no write
/// when they did not.
pub async fn write_report(client: &kube::Client, desired: &Report) -> Result<Written, kube::Error> {
    let api = report_api(client, desired);
    let name = desired.metadata.name.as_str();
    let Some(existing) = api.get_opt(name).await? else {
        api.create(&PostParams::default(), &dynamic(desired)?)
            .await?;
        return Ok(Written::Created);
    };
    let resource_version = existing.metadata.resource_version.clone();
    let current: Report = serde_json::to_value(&existing)
        .and_then(serde_json::from_value)
        .unwrap_or_default();
    if desired.same_content(&current) {
        return Ok(Written::Unchanged);
    }
    let mut next = desired.clone();
    next.keep_timestamps(&current);
    next.metadata.resource_version = resource_version;
    api.replace(name, &PostParams::default(), &dynamic(&next)?)
        .await?;
    Ok(Written::Updated)
}

/// Publishes the findings per (policy, severity), zeroing pairs that the
/// previous run had and this one does not.
fn publish(findings: &[Finding], seen: &mut BTreeSet<(String, &'static str)>) {
    let mut counts: std::collections::BTreeMap<(String, &'static str), u64> = Default::default();
    for f in findings {
        *counts
            .entry((f.policy.to_string(), f.severity.as_str()))
            .or_default() += 1;
    }
    for key in seen.iter() {
        if !counts.contains_key(key) {
            metrics::gauge!(FINDINGS, "policy" => key.0.clone(), "severity" => key.1).set(0.0);
        }
    }
    for ((policy, severity), n) in &counts {
        metrics::gauge!(FINDINGS, "policy" => policy.clone(), "severity" => *severity)
            .set(*n as f64);
    }
    seen.extend(counts.into_keys());
}

/// Why a background run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration files could not be loaded.
    #[error("cannot load the configuration: {0}")]
    Config(#[from] crate::source::SourceError),
    /// The cluster could not be read.
    #[error(transparent)]
    Read(#[from] collect::ReadError),
    /// A report could not be written.
    #[error("cannot write {what}: {error}")]
    Write {
        /// `PolicyReport longhorn-system/longhorn-talos-guard`.
        what: String,
        /// The API error.
        error: kube::Error,
    },
}

/// One audit run: read, judge, publish the findings' metrics (through
/// `seen`, the pairs published before), write both reports. Returns the
/// findings and what happened to each report; the PolicyReport is not
/// written while the Longhorn namespace does not exist.
pub async fn run_once(
    client: &kube::Client,
    source: &ConfigSource,
    seen: &mut BTreeSet<(String, &'static str)>,
    node_audit: Option<&NodeAudit>,
) -> Result<(Vec<Finding>, [Option<Written>; 2]), RunError> {
    let cfg = source.load()?;
    let quiet: collect::Progress = Arc::new(|_, _| {});
    let inventory = collect::collect(client.clone(), &cfg.longhorn_namespace, quiet).await?;
    let mut findings = audit(&inventory, &cfg);
    if let Some(node_audit) = node_audit {
        findings.extend(node_findings(client, node_audit, &inventory, &cfg).await);
        findings.sort_by(|a, b| {
            (&a.object, a.policy, &a.message).cmp(&(&b.object, b.policy, &b.message))
        });
    }
    publish(&findings, seen);
    let now = Now::now();
    let stamp = Timestamp {
        seconds: now.as_second(),
        nanos: now.subsec_nanosecond(),
    };
    let reports = report::reports(&findings, &cfg.longhorn_namespace, stamp);
    let mut written = [None; 2];
    for (i, r) in reports.iter().enumerate() {
        if r.metadata.namespace.is_some() && inventory.namespace.is_none() {
            continue;
        }
        written[i] = Some(
            write_report(client, r)
                .await
                .map_err(|error| RunError::Write {
                    what: format!(
                        "{} {}{}",
                        r.kind,
                        r.metadata
                            .namespace
                            .as_deref()
                            .map(|n| format!("{n}/"))
                            .unwrap_or_default(),
                        r.metadata.name
                    ),
                    error,
                })?,
        );
    }
    Ok((findings, written))
}

/// Each node's `talos preflight` findings from fresh facts, and the
/// guard's ServiceAccount when Talos refuses it.
async fn node_findings(
    client: &kube::Client,
    node_audit: &NodeAudit,
    inventory: &super::Inventory,
    cfg: &crate::config::Config,
) -> Vec<Finding> {
    let fresh = node_audit.store.fresh(std::time::Instant::now());
    let mut out = nodes::node_findings(
        &fresh,
        &inventory.longhorn_nodes,
        &inventory.settings,
        &cfg.longhorn_namespace,
    );
    let (ns, name) = (&node_audit.account_namespace, &node_audit.account_name);
    match nodes::read_service_account(client, ns, name).await {
        Ok(account) => out.extend(nodes::service_account_finding(
            ns,
            name,
            account.as_ref(),
            node_audit.store.trouble().as_deref(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, account = %format!("{ns}/{name}"), "cannot read the talos.dev ServiceAccount");
        }
    }
    out
}

/// Runs the audit every `opts.interval` while this replica holds the Lease,
/// until the task is dropped.
pub fn spawn(
    client: kube::Client,
    source: ConfigSource,
    opts: Options,
) -> tokio::task::JoinHandle<()> {
    if crate::metrics::handle().is_some() {
        metrics::describe_gauge!(
            FINDINGS,
            "Findings of the last background audit, by policy and severity."
        );
        metrics::describe_gauge!(
            LAST_SUCCESS,
            metrics::Unit::Seconds,
            "Unix time of the last background audit that wrote its reports."
        );
        metrics::describe_counter!(RUNS, "Background audit runs, by result.");
    }
    tracing::info!(interval = ?opts.interval, identity = %opts.identity, "background audit on");
    tokio::spawn(async move {
        let mut seen = BTreeSet::new();
        let mut ticker = tokio::time::interval(opts.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match hold_lease(&client, &opts).await {
                Ok(true) => {}
                Ok(false) => {
                    metrics::counter!(RUNS, "result" => "standby").increment(1);
                    tracing::debug!("another replica holds the audit lease");
                    continue;
                }
                Err(e) => {
                    metrics::counter!(RUNS, "result" => "error").increment(1);
                    tracing::warn!(error = %e, lease = LEASE_NAME, "cannot take the audit lease");
                    continue;
                }
            }
            match run_once(&client, &source, &mut seen, opts.nodes.as_ref()).await {
                Ok((findings, written)) => {
                    metrics::gauge!(LAST_SUCCESS).set(Now::now().as_second() as f64);
                    metrics::counter!(RUNS, "result" => "ok").increment(1);
                    tracing::info!(
                        findings = findings.len(),
                        policy_report = Written::describe(written[0]),
                        cluster_policy_report = Written::describe(written[1]),
                        "audit done"
                    );
                }
                Err(e) => {
                    metrics::counter!(RUNS, "result" => "error").increment(1);
                    tracing::warn!(error = %e, "audit failed");
                }
            }
        }
    })
}
