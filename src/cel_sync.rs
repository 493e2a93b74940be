//! Keeps the generated CEL admission policies in the cluster in step with
//! the running configuration (`serve --admission-engine cel|both`): every
//! object [`crate::cel::generate`] writes is server-side applied with the
//! field manager [`FIELD_MANAGER`] (forced: the guard owns them), and the
//! objects labelled as the guard's that the output no longer holds are
//! deleted. A failure is logged, counted and retried; it never stops serving.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;

use crate::cel::{self, KubeVersion, MANAGED_BY, NEWEST_MINOR, OLDEST_MINOR, Served};
use crate::config::Config;
use crate::metrics;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "longhorn-talos-guard";

/// The label selector of the objects the guard owns.
pub fn owned_selector() -> String {
    format!("app.kubernetes.io/managed-by={MANAGED_BY}")
}

/// The kinds the generator writes, bindings first (the order of pruning);
/// MutatingAdmissionPolicy also as `v1beta1` (Kubernetes 1.34 and 1.35 with
/// its feature gate).
const KINDS: [(&str, &str, &str); 6] = [
    (
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    ),
    (
        "v1",
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybindings",
    ),
    (
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
    ),
    ("v1", "MutatingAdmissionPolicy", "mutatingadmissionpolicies"),
    (
        "v1beta1",
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybindings",
    ),
    (
        "v1beta1",
        "MutatingAdmissionPolicy",
        "mutatingadmissionpolicies",
    ),
];

/// The API of `kind` at `version` (`v1`, `v1beta1`) of admissionregistration.k8s.io.
fn api(client: &kube::Client, version: &str, kind: &str) -> Option<Api<DynamicObject>> {
    let (version, kind, plural) = KINDS.iter().find(|(v, k, _)| *v == version && *k == kind)?;
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", version, kind);
    Some(Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    ))
}

/// What one sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects applied (`Kind/name`).
    pub applied: Vec<String>,
    /// Objects deleted (`Kind/name`).
    pub pruned: Vec<String>,
    /// What failed (`Kind/name: error`); the rest was still done.
    pub errors: Vec<String>,
}

/// The Kubernetes minor of the API server `client` talks to, within what
/// the generator knows (a newer server gets the newest output).
pub async fn server_version(client: &kube::Client) -> Result<KubeVersion, String> {
    let info = client
        .apiserver_version()
        .await
        .map_err(|e| format!("cannot read the API server's version: {e}"))?;
    let digits: String = info
        .minor
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor: u32 = digits.parse().map_err(|_| {
        format!(
            "the API server's version {}.{} is not a Kubernetes version",
            info.major, info.minor
        )
    })?;
    if info.major != "1" || minor < OLDEST_MINOR {
        return Err(format!(
            "the API server runs Kubernetes {}.{}: ValidatingAdmissionPolicy v1 needs 1.{OLDEST_MINOR} or newer",
            info.major, info.minor
        ));
    }
    Ok(KubeVersion(minor.min(NEWEST_MINOR)))
}

/// What the API server serves beyond its version's defaults: on 1.34 and
/// 1.35, whether discovery lists MutatingAdmissionPolicy in
/// `admissionregistration.k8s.io/v1beta1` (its feature gate and runtime
/// config on). A group version it does not serve, or a failed look-up, is
/// "not served": the webhook keeps LTG-W001.
pub async fn served(client: &kube::Client, version: KubeVersion) -> Served {
    if !(cel::MAP_V1BETA1_MINOR..cel::MAP_V1_MINOR).contains(&version.0) {
        return Served::default();
    }
    let listed = client
        .list_api_group_resources("admissionregistration.k8s.io/v1beta1")
        .await;
    Served {
        mutating_v1beta1: listed.is_ok_and(|l| {
            l.resources
                .iter()
                .any(|r| r.name == "mutatingadmissionpolicies")
        }),
    }
}

/// Applies the policies generated for `cfg` on Kubernetes `version` (also
/// serving `served`) and prunes the owned ones no longer generated. Every
/// object is tried; the failures are in the report.
pub async fn sync(
    client: &kube::Client,
    cfg: &Config,
    version: KubeVersion,
    served: Served,
) -> SyncReport {
    let generated = cel::generate_for(cfg, version, served);
    let mut report = SyncReport::default();
    let mut wanted: Vec<(String, String)> = Vec::new();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for doc in &generated.documents {
        let value = cel::yaml::to_json(doc);
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let what = format!("{kind}/{name}");
        wanted.push((kind.clone(), name.clone()));
        let api_version = value["apiVersion"].as_str().unwrap_or_default();
        let version = api_version.rsplit('/').next().unwrap_or_default();
        let Some(api) = api(client, version, &kind) else {
            report
                .errors
                .push(format!("{what}: not a kind the guard applies"));
            continue;
        };
        match api.patch(&name, &params, &Patch::Apply(&value)).await {
            Ok(_) => report.applied.push(what),
            Err(e) => report.errors.push(format!("{what}: {e}")),
        }
    }
    let selector = ListParams::default().labels(&owned_selector());
    for (version, kind, _) in KINDS {
        let Some(api) = api(client, version, kind) else {
            continue;
        };
        let list = match api.list(&selector).await {
            Ok(l) => l,
            // A kind the API server does not serve (MutatingAdmissionPolicy v1 before 1.36,
            // v1beta1 without its feature gate) holds nothing of ours.
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => {
                report.errors.push(format!("listing {kind}: {e}"));
                continue;
            }
        };
        for obj in list.items {
            let Some(name) = obj.metadata.name else {
                continue;
            };
            if wanted.iter().any(|(k, n)| k == kind && *n == name) {
                continue;
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => report.pruned.push(format!("{kind}/{name}")),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => report.errors.push(format!("deleting {kind}/{name}: {e}")),
            }
        }
    }
    report
}

/// Keeps the policies in step with `config` (swapped on every config and
/// machine-config reload, looked at every second): syncs at start, whenever
/// the generated output changes, every `retry` after a failure, and every
/// `resync` to repair what someone else changed. Abort the task to stop.
pub fn spawn(
    client: kube::Client,
    config: Arc<ArcSwap<Config>>,
    retry: Duration,
    resync: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The output last applied, and when; the last failed attempt.
        let mut applied: Option<(String, tokio::time::Instant)> = None;
        let mut failed: Option<tokio::time::Instant> = None;
        let mut seen: Option<Arc<Config>> = None;
        let mut version: Option<(KubeVersion, Served)> = None;
        loop {
            let cfg = config.load_full();
            let changed = !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &cfg));
            let retry_due = failed.is_none_or(|at| at.elapsed() >= retry);
            let resync_due = applied
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() >= resync);
            if (changed || resync_due || failed.is_some()) && retry_due {
                seen = Some(cfg.clone());
                if version.is_none() {
                    match server_version(&client).await {
                        Ok(v) => version = Some((v, served(&client, v).await)),
                        Err(e) => {
                            metrics::cel_sync("error");
                            tracing::error!(error = %e, "cannot sync the CEL admission policies; retrying");
                            failed = Some(tokio::time::Instant::now());
                        }
                    }
                }
                if let Some((v, extra)) = version {
                    let output = cel::generate_for(&cfg, v, extra).to_yaml();
                    let same = applied.as_ref().is_some_and(|(o, _)| *o == output);
                    if !same || resync_due || failed.is_some() {
                        let report = sync(&client, &cfg, v, extra).await;
                        if report.errors.is_empty() {
                            metrics::cel_sync("ok");
                            tracing::info!(
                                kubernetes = %v,
                                mutating_v1beta1 = extra.mutating_v1beta1,
                                applied = report.applied.len(),
                                pruned = ?report.pruned,
                                "CEL admission policies in step with the configuration"
                            );
                            applied = Some((output, tokio::time::Instant::now()));
                            failed = None;
                        } else {
                            metrics::cel_sync("error");
                            tracing::error!(
                                kubernetes = %v,
                                errors = ?report.errors,
                                applied = report.applied.len(),
                                "CEL admission policies not all applied; retrying"
                            );
                            failed = Some(tokio::time::Instant::now());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}
