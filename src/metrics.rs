//! Prometheus metrics, shared by the server and the self-managed reconciler:
//! admission requests by endpoint, kind, operation and decision; a latency
//! histogram with real buckets; certificate and CA expiry; reloads.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::policy::{Decision, RuleDecision};

/// Requests answered with a review, by endpoint, kind, operation and decision.
pub const REQUESTS: &str = "ltg_admission_requests_total";
/// Bodies refused as unreadable (HTTP 400/415), by endpoint.
pub const REJECTED: &str = "ltg_admission_rejected_total";
/// Time from body received to response encoded, by endpoint.
pub const DURATION: &str = "ltg_admission_duration_seconds";
/// Unix time at which the serving certificate expires.
pub const CERT_EXPIRY: &str = "ltg_certificate_expiry_timestamp_seconds";
/// Certificate and config reloads, by what and result.
pub const RELOADS: &str = "ltg_reloads_total";
/// Rules run on answered reviews, by endpoint, rule ID and what the rule did
/// (`denied`, `warned`, `patched`, `passed`): the companion of [`REQUESTS`].
pub const RULE_RESULTS: &str = "ltg_admission_rule_results_total";

/// Server-side applies of the generated CEL policies (`serve
/// --admission-engine cel|both`), by result (`ok`, `error`).
pub const CEL_SYNCS: &str = "ltg_cel_policy_syncs_total";

/// Buckets from 25 µs (the policies alone) to 1 s (a slow node look-up).
const BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder on first use and returns its handle
/// (`None` if another recorder was installed first).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
                .expect("bucket list is not empty");
            match builder.install_recorder() {
                Ok(h) => {
                    metrics::describe_counter!(REQUESTS, "Admission reviews answered.");
                    metrics::describe_counter!(REJECTED, "Request bodies refused as unreadable.");
                    metrics::describe_histogram!(
                        DURATION,
                        metrics::Unit::Seconds,
                        "Review handling time."
                    );
                    metrics::describe_gauge!(
                        CERT_EXPIRY,
                        metrics::Unit::Seconds,
                        "Serving certificate notAfter, Unix time."
                    );
                    metrics::describe_counter!(RELOADS, "Certificate and configuration reloads.");
                    metrics::describe_counter!(
                        CEL_SYNCS,
                        "Server-side applies of the generated CEL admission policies, by result."
                    );
                    metrics::describe_counter!(
                        RULE_RESULTS,
                        "Rules run on answered admission reviews, by rule and result."
                    );
                    metrics::describe_counter!(
                        REFUSED_CONNECTIONS,
                        "Connections refused at the connection cap."
                    );
                    metrics::describe_counter!(
                        SHED_CONNECTIONS,
                        "Idle connections closed to make room at the connection cap."
                    );
                    metrics::describe_counter!(
                        CONNECTION_TIMEOUTS,
                        "Connections closed by a handshake or idle timeout."
                    );
                    metrics::describe_gauge!(
                        CA_EXPIRY,
                        metrics::Unit::Seconds,
                        "Self-managed signing CA notAfter, Unix time."
                    );
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Starts, once per process, a thread that runs the recorder's upkeep every
/// `every`: the recorder keeps each histogram sample until upkeep (or a
/// scrape) folds it into the buckets, about 20 bytes per review, so without
/// it a guard nobody scrapes grows without bound. Later calls do nothing.
pub fn spawn_upkeep(every: Duration) {
    static STARTED: OnceLock<()> = OnceLock::new();
    let Some(handle) = handle() else { return };
    STARTED.get_or_init(|| {
        let every = every.max(Duration::from_millis(100));
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    handle.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread; samples are folded at each scrape only");
        }
    });
}

/// Renders the Prometheus text exposition.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Records one answered review. Every label is static: recording allocates nothing.
pub fn review(
    endpoint: &'static str,
    kind: &'static str,
    operation: &'static str,
    decision: Decision,
    rules: &[(&'static str, RuleDecision)],
    seconds: f64,
) {
    metrics::counter!(REQUESTS, "endpoint" => endpoint, "kind" => kind, "operation" => operation, "decision" => decision.as_str())
        .increment(1);
    for (rule, result) in rules {
        metrics::counter!(RULE_RESULTS, "endpoint" => endpoint, "rule" => *rule, "result" => result.as_str())
            .increment(1);
    }
    metrics::histogram!(DURATION, "endpoint" => endpoint).record(seconds);
}

/// Records a refused body.
pub fn rejected(endpoint: &'static str, status: u16) {
    metrics::counter!(REJECTED, "endpoint" => endpoint, "status" => status.to_string())
        .increment(1);
}

/// Connections closed at once because the connection cap was reached and
/// every open connection was busy.
pub const REFUSED_CONNECTIONS: &str = "ltg_refused_connections_total";

/// Counts a connection refused by the cap.
pub fn refused_connection() {
    metrics::counter!(REFUSED_CONNECTIONS).increment(1);
}

/// Connections closed to make room for a new one at the connection cap.
pub const SHED_CONNECTIONS: &str = "ltg_shed_connections_total";

/// Counts a connection shed at the cap.
pub fn shed_connection() {
    metrics::counter!(SHED_CONNECTIONS).increment(1);
}

/// Connections closed by a timeout, by phase (`handshake`, `idle`).
pub const CONNECTION_TIMEOUTS: &str = "ltg_connection_timeouts_total";

/// Counts a connection closed by a timeout.
pub fn connection_timeout(phase: &'static str) {
    metrics::counter!(CONNECTION_TIMEOUTS, "phase" => phase).increment(1);
}

/// Unix time at which the self-managed signing CA expires.
pub const CA_EXPIRY: &str = "ltg_ca_expiry_timestamp_seconds";

/// Publishes the self-managed signing CA's expiry.
pub fn ca_expiry(unix: i64) {
    metrics::gauge!(CA_EXPIRY).set(unix as f64);
}

/// Publishes the serving certificate's expiry.
pub fn cert_expiry(unix: i64) {
    metrics::gauge!(CERT_EXPIRY).set(unix as f64);
}

/// Counts a sync of the generated CEL policies.
pub fn cel_sync(result: &'static str) {
    metrics::counter!(CEL_SYNCS, "result" => result).increment(1);
}

/// Counts a reload attempt.
pub fn reload(what: &'static str, result: &'static str) {
    metrics::counter!(RELOADS, "what" => what, "result" => result).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described() {
        assert!(handle().is_some(), "the test process installs its recorder");
        review(
            "validate",
            "Namespace",
            "CREATE",
            Decision::Denied,
            &[("LTG-W002", RuleDecision::Denied)],
            0.001,
        );
        rejected("validate", 400);
        refused_connection();
        shed_connection();
        connection_timeout("idle");
        ca_expiry(1);
        cert_expiry(1);
        reload("config", "ok");
        cel_sync("ok");
        let text = render();
        for name in [
            REQUESTS,
            RULE_RESULTS,
            REJECTED,
            DURATION,
            CERT_EXPIRY,
            CA_EXPIRY,
            RELOADS,
            CEL_SYNCS,
            REFUSED_CONNECTIONS,
            SHED_CONNECTIONS,
            CONNECTION_TIMEOUTS,
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} undescribed:\n{text}"
            );
        }
    }
}
