//! Self-managed certificates: a CA and a serving certificate kept in a Secret
//! in the guard's namespace, the CA written into the `caBundle` of the guard's
//! own webhook configurations, renewed and rotated by every replica's loop.
//!
//! [`plan`] is the pure decision (what the Secret should hold at time `now`);
//! [`SelfManaged::reconcile`] reads the Secret, applies the plan with
//! optimistic concurrency (the API server settles races between replicas),
//! and syncs the `caBundle`s. A watch on the two webhook configurations (by
//! name) writes the bundle as soon as one (re)appears without it, as after a
//! break-glass delete and re-apply, instead of at the next Secret poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use crate::certs::{self, Ca, CertError};
use crate::metrics;
use crate::tls::{CertStore, TlsError};

/// Annotation on the Secret: Unix time at which the current CA was introduced.
pub const ROTATED_AT: &str = "longhorn-talos-guard.io/ca-rotated-at";

/// Secret keys.
pub mod keys {
    /// The serving certificate (the kubernetes.io/tls key).
    pub const CERT: &str = "tls.crt";
    /// The serving key.
    pub const KEY: &str = "tls.key";
    /// Every CA clients should trust: the `caBundle`.
    pub const BUNDLE: &str = "ca.crt";
    /// The CA that signs new serving certificates.
    pub const CA_CERT: &str = "ca-signing.crt";
    /// Its key.
    pub const CA_KEY: &str = "ca-signing.key";
}

/// How long things live and when they are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Validity of a new CA.
    pub ca_validity: Duration,
    /// A CA with less than this left is replaced (keep it well above
    /// `cert_validity`, so that no serving certificate outlives its CA).
    pub ca_renew_before: Duration,
    /// Validity of a new serving certificate.
    pub cert_validity: Duration,
    /// A serving certificate with less than this left is renewed.
    pub cert_renew_before: Duration,
    /// After a CA rotation: how long both CAs are trusted before the serving
    /// certificate switches to the new CA, and again before the old CA leaves
    /// the bundle. Keep it above a few reconcile intervals.
    pub overlap: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ca_validity: Duration::days(3650),
            ca_renew_before: Duration::days(365),
            cert_validity: Duration::days(90),
            cert_renew_before: Duration::days(30),
            overlap: Duration::minutes(10),
        }
    }
}

/// What the Secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Every CA to trust, PEM, newest first.
    pub bundle: String,
    /// The signing CA.
    pub ca: Ca,
    /// The serving certificate, PEM.
    pub cert: String,
    /// Its key, PEM.
    pub key: String,
    /// Unix time the signing CA was introduced by a rotation (none for the first CA).
    pub rotated_at: Option<i64>,
}

/// What [`plan`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The Secret is fine as it is.
    Keep,
    /// Write this state; the text says why.
    Write(State, &'static str),
}

/// Errors of the self-managed mode, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum SelfManagedError {
    /// Making a certificate failed.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// A call to the API server failed.
    #[error("{what}: {error}")]
    Api {
        /// What was being done (`get secret longhorn-talos-guard/longhorn-talos-guard-tls`).
        what: String,
        /// The client error.
        error: kube::Error,
    },
    /// Another replica wrote the Secret first; read it again.
    #[error("secret {0} changed under us; will re-read it")]
    Conflict(String),
    /// The new serving pair is unusable (never expected from our own Secret).
    #[error(transparent)]
    Tls(#[from] TlsError),
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Decides what the Secret should hold at `now` (Unix seconds).
///
/// - No Secret (or an unreadable one): a new CA and serving certificate.
/// - The signing CA near its end: a new CA joins the bundle, the serving
///   certificate stays until the overlap has passed (the API server learns the
///   new CA first).
/// - After the overlap: the serving certificate is reissued by the signing CA
///   when it was issued by an older one, nears its end, or lacks a SAN.
/// - After a second overlap (every replica serves the new certificate by
///   then): CAs other than the signing one leave the bundle; expired CAs leave at once.
pub fn plan(
    current: Option<&State>,
    now: i64,
    t: &Timings,
    sans: &[String],
) -> Result<Plan, CertError> {
    let now_t = at(now);
    let fresh = || -> Result<Plan, CertError> {
        let ca = certs::new_ca(now_t, t.ca_validity)?;
        let (cert, key) = certs::issue(&ca, sans, now_t, t.cert_validity)?;
        Ok(Plan::Write(
            State {
                bundle: ca.cert_pem.clone(),
                ca,
                cert,
                key,
                rotated_at: None,
            },
            "created a CA and a serving certificate",
        ))
    };
    let Some(cur) = current else {
        return fresh();
    };
    let (Ok(ca), Ok(leaf)) = (certs::info(&cur.ca.cert_pem), certs::info(&cur.cert)) else {
        return fresh();
    };
    let mut next = cur.clone();
    let left = |not_after: i64| Duration::seconds(not_after - now);

    if left(ca.not_after) < t.ca_renew_before {
        let new = certs::new_ca(now_t, t.ca_validity)?;
        let mut bundle = new.cert_pem.clone();
        for old in certs::split_bundle(&cur.bundle) {
            if certs::info(&old).is_ok_and(|i| i.not_after > now) {
                bundle.push_str(&old);
            }
        }
        next.bundle = bundle;
        next.ca = new;
        next.rotated_at = Some(now);
        return Ok(Plan::Write(
            next,
            "rotated the CA; both CAs are trusted during the overlap",
        ));
    }

    let since_rotation = next.rotated_at.map(|r| Duration::seconds(now - r));
    let overlap_passed = since_rotation.is_none_or(|d| d >= t.overlap);
    let from_signing_ca = leaf.issuer == ca.subject;
    let sans_missing = sans.iter().any(|s| !leaf.sans.contains(s));
    let leaf_expiring = left(leaf.not_after) < t.cert_renew_before;
    if overlap_passed && (!from_signing_ca || leaf_expiring || sans_missing) {
        let (cert, key) = certs::issue(&next.ca, sans, now_t, t.cert_validity)?;
        next.cert = cert;
        next.key = key;
        let why = if !from_signing_ca {
            "moved the serving certificate to the new CA"
        } else if sans_missing {
            "reissued the serving certificate for new names"
        } else {
            "renewed the serving certificate"
        };
        return Ok(Plan::Write(next, why));
    }

    // Trim the bundle: the signing CA first; older CAs only while still needed.
    // Old CAs stay while the serving certificate is not yet from the signing
    // CA, and for one more overlap after it moved (replicas catch up).
    let keep_old = !from_signing_ca || since_rotation.is_some_and(|d| d < t.overlap * 2);
    let mut bundle = next.ca.cert_pem.clone();
    for c in certs::split_bundle(&cur.bundle) {
        let Ok(i) = certs::info(&c) else { continue };
        if i.subject != ca.subject && keep_old && i.not_after > now {
            bundle.push_str(&c);
        }
    }
    if bundle != cur.bundle {
        next.bundle = bundle;
        return Ok(Plan::Write(next, "removed old CAs from the bundle"));
    }
    Ok(Plan::Keep)
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
}

/// Reads a state from a Secret; `None` when a key is missing.
pub fn from_secret(secret: &Secret) -> Option<State> {
    let data = secret.data.as_ref()?;
    Some(State {
        bundle: text(data, keys::BUNDLE)?,
        ca: Ca {
            cert_pem: text(data, keys::CA_CERT)?,
            key_pem: text(data, keys::CA_KEY)?,
        },
        cert: text(data, keys::CERT)?,
        key: text(data, keys::KEY)?,
        rotated_at: secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROTATED_AT))
            .and_then(|v| v.parse().ok()),
    })
}

/// Writes a state into a Secret (keeping its metadata).
pub fn to_secret(state: &State, mut metadata: ObjectMeta) -> Secret {
    let data: BTreeMap<String, ByteString> = [
        (keys::CERT, &state.cert),
        (keys::KEY, &state.key),
        (keys::BUNDLE, &state.bundle),
        (keys::CA_CERT, &state.ca.cert_pem),
        (keys::CA_KEY, &state.ca.key_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    match state.rotated_at {
        Some(t) => {
            annotations.insert(ROTATED_AT.to_string(), t.to_string());
        }
        None => {
            annotations.remove(ROTATED_AT);
        }
    }
    metadata.labels.get_or_insert_with(BTreeMap::new).insert(
        "app.kubernetes.io/managed-by".into(),
        "longhorn-talos-guard".into(),
    );
    Secret {
        metadata,
        data: Some(data),
        type_: Some("kubernetes.io/tls".into()),
        ..Secret::default()
    }
}

/// The self-managed certificate loop's settings and API handles.
pub struct SelfManaged {
    secrets: Api<Secret>,
    mutating: Api<MutatingWebhookConfiguration>,
    validating: Api<ValidatingWebhookConfiguration>,
    namespace: String,
    secret_name: String,
    webhook_configuration: String,
    sans: Vec<String>,
    timings: Timings,
}

impl SelfManaged {
    /// Keeps `secret_name` in `namespace` and the `caBundle` of the webhook
    /// configurations named `webhook_configuration` (mutating and validating).
    pub fn new(
        client: Client,
        namespace: &str,
        secret_name: &str,
        webhook_configuration: &str,
        sans: Vec<String>,
        timings: Timings,
    ) -> Self {
        SelfManaged {
            secrets: Api::namespaced(client.clone(), namespace),
            mutating: Api::all(client.clone()),
            validating: Api::all(client),
            namespace: namespace.to_string(),
            secret_name: secret_name.to_string(),
            webhook_configuration: webhook_configuration.to_string(),
            sans,
            timings,
        }
    }

    /// `namespace/name` of the Secret.
    pub fn secret_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.secret_name)
    }

    fn api_err(&self, what: &str) -> impl Fn(kube::Error) -> SelfManagedError + '_ {
        let what = format!("{what} {}", self.secret_ref());
        move |error| SelfManagedError::Api {
            what: what.clone(),
            error,
        }
    }

    /// Reads the Secret, writes what [`plan`] decides (create, or replace at
    /// the read resourceVersion), syncs the caBundles, and returns the state
    /// to serve.
    pub async fn reconcile(&self) -> Result<State, SelfManagedError> {
        let existing = self
            .secrets
            .get_opt(&self.secret_name)
            .await
            .map_err(self.api_err("get secret"))?;
        let current = existing.as_ref().and_then(from_secret);
        if existing.is_some() && current.is_none() {
            tracing::warn!(secret = %self.secret_ref(), "secret lacks keys; replacing its contents");
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let state = match plan(current.as_ref(), now, &self.timings, &self.sans)? {
            Plan::Keep => current.expect("Keep is only planned for an existing state"),
            Plan::Write(state, why) => {
                let pp = PostParams::default();
                match &existing {
                    None => {
                        let meta = ObjectMeta {
                            name: Some(self.secret_name.clone()),
                            namespace: Some(self.namespace.clone()),
                            ..ObjectMeta::default()
                        };
                        match self.secrets.create(&pp, &to_secret(&state, meta)).await {
                            Ok(_) => {}
                            // Another replica created it first: use theirs on the next pass.
                            Err(kube::Error::Api(e)) if e.code == 409 => {
                                return Err(SelfManagedError::Conflict(self.secret_ref()));
                            }
                            Err(e) => return Err(self.api_err("create secret")(e)),
                        }
                    }
                    Some(secret) => {
                        let secret = to_secret(&state, secret.metadata.clone());
                        match self.secrets.replace(&self.secret_name, &pp, &secret).await {
                            Ok(_) => {}
                            Err(kube::Error::Api(e)) if e.code == 409 => {
                                return Err(SelfManagedError::Conflict(self.secret_ref()));
                            }
                            Err(e) => return Err(self.api_err("update secret")(e)),
                        }
                    }
                }
                tracing::info!(secret = %self.secret_ref(), "{why}");
                state
            }
        };
        self.sync_ca_bundles(&state.bundle).await;
        if let Ok(ca) = certs::info(&state.ca.cert_pem) {
            metrics::ca_expiry(ca.not_after);
        }
        Ok(state)
    }

    /// Writes `bundle` into every webhook of the two configurations, when it differs.
    async fn sync_ca_bundles(&self, bundle: &str) {
        let want = ByteString(bundle.as_bytes().to_vec());
        let name = &self.webhook_configuration;
        sync_ca_bundle(&self.mutating, name, &want, mutating_bundles).await;
        sync_ca_bundle(&self.validating, name, &want, validating_bundles).await;
    }

    /// Reconciles until it succeeds or `deadline` passes (start-up).
    pub async fn first_state(&self, deadline: StdDuration) -> Result<State, SelfManagedError> {
        let start = std::time::Instant::now();
        loop {
            match self.reconcile().await {
                Ok(state) => return Ok(state),
                Err(e) if start.elapsed() < deadline => {
                    tracing::warn!(error = %e, "self-managed certificate not ready yet; retrying");
                    tokio::time::sleep(StdDuration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reconciles every `interval` (at once again after a conflict) and
    /// serves what the Secret holds. Runs until aborted; errors are logged
    /// and retried, so one failed pass never stops the rotation.
    ///
    /// Alongside, it watches the two webhook configurations and writes the
    /// bundle of the last successful pass into a webhook that (re)appears
    /// without one, within moments rather than at the next pass.
    pub fn spawn(
        self: Arc<Self>,
        store: Arc<CertStore>,
        interval: StdDuration,
    ) -> tokio::task::JoinHandle<()> {
        let (bundle_tx, bundle_rx) = watch::channel(String::new());
        let name = self.webhook_configuration.clone();
        let watch_mutating = keep_ca_bundle(
            self.mutating.clone(),
            name.clone(),
            bundle_rx.clone(),
            mutating_bundles,
        );
        let watch_validating =
            keep_ca_bundle(self.validating.clone(), name, bundle_rx, validating_bundles);
        let reconcile = async move {
            loop {
                let wait = match self.reconcile().await {
                    Ok(state) => {
                        bundle_tx.send_replace(state.bundle.clone());
                        match store.update_pem(state.cert.as_bytes(), state.key.as_bytes()) {
                            Ok(true) => {
                                metrics::cert_expiry(store.not_after());
                                metrics::reload("certificate", "ok");
                                tracing::info!(
                                    not_after = store.not_after(),
                                    "serving the certificate from the secret"
                                );
                            }
                            Ok(false) => {}
                            Err(e) => {
                                metrics::reload("certificate", "error");
                                tracing::error!(error = %e, "certificate in the secret rejected; keeping the previous one");
                            }
                        }
                        interval
                    }
                    Err(SelfManagedError::Conflict(s)) => {
                        tracing::debug!(secret = %s, "conflict; re-reading");
                        StdDuration::from_millis(100)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "certificate reconcile failed; retrying");
                        interval.min(StdDuration::from_secs(5))
                    }
                };
                tokio::time::sleep(wait).await;
            }
        };
        // One task: aborting the handle stops the loop and both watches.
        tokio::spawn(async move {
            tokio::join!(reconcile, watch_mutating, watch_validating);
        })
    }
}

/// Each webhook's name and caBundle.
type Bundles = Vec<(String, Option<ByteString>)>;

/// The caBundle of each webhook of a mutating configuration, by webhook name.
fn mutating_bundles(c: &MutatingWebhookConfiguration) -> Bundles {
    c.webhooks
        .iter()
        .flatten()
        .map(|w| (w.name.clone(), w.client_config.ca_bundle.clone()))
        .collect()
}

/// The caBundle of each webhook of a validating configuration, by webhook name.
fn validating_bundles(c: &ValidatingWebhookConfiguration) -> Bundles {
    c.webhooks
        .iter()
        .flatten()
        .map(|w| (w.name.clone(), w.client_config.ca_bundle.clone()))
        .collect()
}

/// Server-side length of one watch request (the API server caps it anyway);
/// the watch is then opened again.
const WATCH_SECONDS: u32 = 290;

/// Watches the configuration `name` and writes the current bundle (from
/// `bundle`, empty until the first successful reconcile) into every webhook
/// of it that has none, on each event that shows it: the object as it is
/// when the watch opens, and every (re)creation or change. Runs forever;
/// a failed watch is logged and opened again after a short pause.
async fn keep_ca_bundle<K>(
    api: Api<K>,
    name: String,
    mut bundle: watch::Receiver<String>,
    client_configs: fn(&K) -> Bundles,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    use futures_util::StreamExt as _;

    let kind = K::kind(&());
    // Nothing to write before the first bundle; the reconcile pass that
    // produced it has synced the configurations already.
    if bundle.wait_for(|b| !b.is_empty()).await.is_err() {
        return;
    }
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(WATCH_SECONDS);
    loop {
        // From "0": the API server first sends the object as it is (if any)
        // as ADDED, so a configuration re-created while no watch was open is
        // seen too.
        let ended = match api.watch(&params, "0").await {
            Ok(events) => {
                let mut events = std::pin::pin!(events);
                loop {
                    match events.next().await {
                        Some(Ok(WatchEvent::Added(c) | WatchEvent::Modified(c))) => {
                            // Only webhooks without a bundle: one that differs is
                            // left to the reconcile pass, which reads the Secret.
                            // Two replicas a CA rotation apart would otherwise
                            // overwrite each other's bundle on every event.
                            let missing: Vec<_> = client_configs(&c)
                                .into_iter()
                                .filter(|(_, b)| b.as_ref().is_none_or(|b| b.0.is_empty()))
                                .collect();
                            if !missing.is_empty() {
                                let want = ByteString(bundle.borrow().as_bytes().to_vec());
                                patch_stale(&api, &name, &want, missing).await;
                            }
                        }
                        Some(Ok(WatchEvent::Deleted(_) | WatchEvent::Bookmark(_))) => {}
                        // Usually 410 Gone (the resource version is too old): open again.
                        Some(Ok(WatchEvent::Error(status))) => {
                            tracing::debug!(%kind, name, code = status.code, reason = %status.reason, "watch ended by the API server");
                            break None;
                        }
                        Some(Err(e)) => break Some(e.to_string()),
                        None => break None,
                    }
                }
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = ended {
            tracing::warn!(%kind, name, %error, "cannot watch webhook configuration; retrying in 5 s");
            tokio::time::sleep(StdDuration::from_secs(5)).await;
        } else {
            tokio::time::sleep(StdDuration::from_millis(200)).await;
        }
    }
}

/// Sets `want` as the caBundle of every webhook of the configuration `name`,
/// with a strategic merge patch keyed by webhook name (nothing else changes).
async fn sync_ca_bundle<K>(
    api: &Api<K>,
    name: &str,
    want: &ByteString,
    client_configs: impl Fn(&K) -> Vec<(String, Option<ByteString>)>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let kind = K::kind(&());
    let config = match api.get_opt(name).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            tracing::warn!(%kind, name, "webhook configuration not found; caBundle not written");
            return;
        }
        Err(e) => {
            tracing::warn!(%kind, name, error = %e, "cannot read webhook configuration");
            return;
        }
    };
    patch_stale(api, name, want, client_configs(&config)).await;
}

/// Patches `want` into the webhooks of `bundles` (name, current caBundle)
/// whose caBundle differs; nothing when all match.
async fn patch_stale<K>(
    api: &Api<K>,
    name: &str,
    want: &ByteString,
    bundles: Vec<(String, Option<ByteString>)>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let kind = K::kind(&());
    let stale: Vec<serde_json::Value> = bundles
        .into_iter()
        .filter(|(_, bundle)| bundle.as_ref() != Some(want))
        .map(
            |(webhook, _)| serde_json::json!({"name": webhook, "clientConfig": {"caBundle": want}}),
        )
        .collect();
    if stale.is_empty() {
        return;
    }
    let patch = Patch::Strategic(serde_json::json!({"webhooks": stale}));
    match api.patch(name, &PatchParams::default(), &patch).await {
        Ok(_) => tracing::info!(%kind, name, "caBundle written"),
        Err(e) => {
            tracing::warn!(%kind, name, error = %e, "cannot write caBundle; retrying next pass")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sans() -> Vec<String> {
        vec![
            "longhorn-talos-guard.longhorn-talos-guard.svc".into(),
            "127.0.0.1".into(),
        ]
    }

    fn short() -> Timings {
        Timings {
            ca_validity: Duration::days(100),
            ca_renew_before: Duration::days(30),
            cert_validity: Duration::days(10),
            cert_renew_before: Duration::days(3),
            overlap: Duration::hours(1),
        }
    }

    fn write(p: Plan) -> (State, &'static str) {
        match p {
            Plan::Write(s, why) => (s, why),
            Plan::Keep => panic!("expected a write"),
        }
    }

    /// Invariants that must hold at every moment: the serving certificate is
    /// valid, was issued by a CA in the bundle, and the signing CA is trusted.
    fn check(state: &State, now: i64) {
        let leaf = certs::info(&state.cert).unwrap();
        assert!(leaf.not_after > now, "serving certificate expired");
        let bundle: Vec<_> = certs::split_bundle(&state.bundle)
            .iter()
            .map(|c| certs::info(c).unwrap())
            .collect();
        assert!(
            bundle.iter().any(|c| c.subject == leaf.issuer),
            "issuer not in the bundle"
        );
        let ca = certs::info(&state.ca.cert_pem).unwrap();
        assert!(
            bundle.iter().any(|c| c.subject == ca.subject),
            "signing CA not trusted"
        );
        assert!(ca.not_after > now, "signing CA expired");
    }

    #[test]
    fn fresh_then_keep() {
        let now = 1_800_000_000;
        let (s, why) = write(plan(None, now, &short(), &sans()).unwrap());
        assert_eq!(why, "created a CA and a serving certificate");
        check(&s, now);
        assert_eq!(certs::info(&s.cert).unwrap().sans, sans());
        assert_eq!(
            plan(Some(&s), now + 3600, &short(), &sans()).unwrap(),
            Plan::Keep
        );
    }

    #[test]
    fn renews_the_serving_certificate_before_it_expires() {
        let now = 1_800_000_000;
        let (s, _) = write(plan(None, now, &short(), &sans()).unwrap());
        let later = now + Duration::days(8).whole_seconds();
        let (r, why) = write(plan(Some(&s), later, &short(), &sans()).unwrap());
        assert_eq!(why, "renewed the serving certificate");
        assert_ne!(r.cert, s.cert);
        assert_eq!(r.ca, s.ca, "same CA");
        check(&r, later);
    }

    #[test]
    fn new_names_reissue_the_certificate() {
        let now = 1_800_000_000;
        let (s, _) = write(plan(None, now, &short(), &sans()).unwrap());
        let mut more = sans();
        more.push("guard.example.test".into());
        let (_, why) = write(plan(Some(&s), now + 10, &short(), &more).unwrap());
        assert_eq!(why, "reissued the serving certificate for new names");
    }

    #[test]
    fn rotation_keeps_working_over_many_cycles() {
        // Three simulated years in 6-hour steps: many CA rotations and renewals,
        // and at every step the invariants hold (a rotator that stops after its
        // first rotation, or a CA that lapses, fails here).
        let t = short();
        let mut now = 1_800_000_000i64;
        let (mut state, _) = write(plan(None, now, &t, &sans()).unwrap());
        let mut rotations = 0;
        let mut renewals = 0;
        let mut max_bundle = 1;
        for _ in 0..(4 * 365 * 3) {
            now += Duration::hours(6).whole_seconds();
            // Each pass may take a few writes (rotate, then move, then trim).
            for _ in 0..3 {
                match plan(Some(&state), now, &t, &sans()).unwrap() {
                    Plan::Keep => break,
                    Plan::Write(next, why) => {
                        if why.starts_with("rotated the CA") {
                            rotations += 1;
                        }
                        if why == "renewed the serving certificate" {
                            renewals += 1;
                        }
                        state = next;
                    }
                }
            }
            check(&state, now);
            max_bundle = max_bundle.max(certs::split_bundle(&state.bundle).len());
        }
        assert!(
            rotations >= 10,
            "{rotations} CA rotations in three years of 100-day CAs"
        );
        assert!(renewals >= 100, "{renewals} renewals");
        assert_eq!(max_bundle, 2, "two CAs at most, during an overlap");
        assert_eq!(
            certs::split_bundle(&state.bundle).len(),
            1,
            "the old CA left the bundle"
        );
    }

    #[test]
    fn rotation_steps_in_order() {
        let t = short();
        let now = 1_800_000_000i64;
        let (s, _) = write(plan(None, now, &t, &sans()).unwrap());
        // Day 68: the serving certificate is renewed (the CA still has 32 days).
        let (s, why) = write(
            plan(
                Some(&s),
                now + Duration::days(68).whole_seconds(),
                &t,
                &sans(),
            )
            .unwrap(),
        );
        assert_eq!(why, "renewed the serving certificate");
        // Day 75: the CA has 25 days left, less than ca_renew_before.
        let t1 = now + Duration::days(75).whole_seconds();
        let (r, why) = write(plan(Some(&s), t1, &t, &sans()).unwrap());
        assert!(why.starts_with("rotated the CA"), "{why}");
        assert_eq!(certs::split_bundle(&r.bundle).len(), 2);
        assert_eq!(
            r.cert, s.cert,
            "the serving certificate waits for the overlap"
        );
        check(&r, t1);
        // Within the overlap: nothing moves.
        assert_eq!(plan(Some(&r), t1 + 60, &t, &sans()).unwrap(), Plan::Keep);
        // After it: the serving certificate moves to the new CA; both still trusted.
        let t2 = t1 + Duration::hours(1).whole_seconds();
        let (m, why) = write(plan(Some(&r), t2, &t, &sans()).unwrap());
        assert_eq!(why, "moved the serving certificate to the new CA");
        assert_eq!(certs::split_bundle(&m.bundle).len(), 2);
        check(&m, t2);
        // After a second overlap: the old CA leaves.
        let t3 = t1 + Duration::hours(2).whole_seconds();
        let (d, why) = write(plan(Some(&m), t3, &t, &sans()).unwrap());
        assert_eq!(why, "removed old CAs from the bundle");
        assert_eq!(certs::split_bundle(&d.bundle).len(), 1);
        check(&d, t3);
    }

    #[test]
    fn secret_round_trip() {
        let (s, _) = write(plan(None, 1_800_000_000, &short(), &sans()).unwrap());
        let mut rotated = s.clone();
        rotated.rotated_at = Some(42);
        for state in [s, rotated] {
            let secret = to_secret(&state, ObjectMeta::default());
            assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
            assert_eq!(from_secret(&secret), Some(state));
        }
        assert_eq!(from_secret(&Secret::default()), None);
    }

    #[test]
    fn unreadable_secret_contents_are_replaced() {
        let (mut s, _) = write(plan(None, 1_800_000_000, &short(), &sans()).unwrap());
        s.cert = "garbage".into();
        let (_, why) = write(plan(Some(&s), 1_800_000_010, &short(), &sans()).unwrap());
        assert_eq!(why, "created a CA and a serving certificate");
    }
}
