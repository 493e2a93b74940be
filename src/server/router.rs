//! HTTP endpoints: `/validate` and `/mutate` (AdmissionReview in and out),
//! `/healthz`, `/readyz` and `/metrics`. Knows nothing about Longhorn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cluster::NodeFacts;
use crate::config::Config;
use crate::metrics;
use crate::pipeline;
use crate::policy::Phase;
use crate::server::limit::Activity;

/// The default request body limit: an UPDATE carries two copies of the object.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The first bytes of every body draw on the whole budget; past them a body
/// draws only on the part of the budget large bodies may use (three
/// quarters, or one largest body if that is more), so a few large bodies
/// cannot starve the small reviews.
const SMALL_BODY_BYTES: usize = 64 * 1024;

/// How request bodies are read: size, time, and the budget they share.
#[derive(Debug)]
pub struct BodyLimits {
    max_bytes: usize,
    timeout: Duration,
    budget_bytes: usize,
    total: Arc<Semaphore>,
    large: Arc<Semaphore>,
}

impl BodyLimits {
    /// Bodies of at most `max_bytes`, received within `timeout`, holding at
    /// most `budget_bytes` together (never less than one largest body).
    pub fn new(max_bytes: usize, budget_bytes: usize, timeout: Duration) -> BodyLimits {
        let budget_bytes = budget_bytes.max(max_bytes).max(SMALL_BODY_BYTES * 4);
        BodyLimits {
            max_bytes,
            timeout,
            budget_bytes,
            total: Arc::new(Semaphore::new(budget_bytes)),
            // One largest body fits on an idle guard, whatever the flags.
            large: Arc::new(Semaphore::new((budget_bytes / 4 * 3).max(max_bytes))),
        }
    }

    /// Bytes of the budget held by bodies now.
    pub fn in_use(&self) -> usize {
        self.budget_bytes - self.total.available_permits()
    }

    /// Draws `n` more bytes for `body`, which holds what it has received;
    /// `false` when the budget cannot give them now.
    fn take(&self, body: &mut Body, n: usize) -> bool {
        let Ok(n32) = u32::try_from(n) else {
            return false;
        };
        // Past its first bytes a body draws on the large share too.
        let held = body.bytes.len();
        let large_part = (held + n).saturating_sub(SMALL_BODY_BYTES.max(held));
        let large = match u32::try_from(large_part) {
            Ok(0) => None,
            Ok(m) => match self.large.clone().try_acquire_many_owned(m) {
                Ok(p) => Some(p),
                Err(_) => return false,
            },
            Err(_) => return false,
        };
        let Ok(total) = self.total.clone().try_acquire_many_owned(n32) else {
            return false;
        };
        keep(&mut body.total, total);
        if let Some(large) = large {
            keep(&mut body.large, large);
        }
        true
    }
}

/// Adds `permit` to what `slot` holds (one permit per semaphore and body).
fn keep(slot: &mut Option<OwnedSemaphorePermit>, permit: OwnedSemaphorePermit) {
    match slot {
        Some(held) => held.merge(permit),
        None => *slot = Some(permit),
    }
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Timeout,
    Budget,
    Read(String),
}

/// A body and the budget it holds until dropped.
struct Body {
    bytes: Vec<u8>,
    total: Option<OwnedSemaphorePermit>,
    large: Option<OwnedSemaphorePermit>,
}

/// Makes room in `buf` for `extra` more bytes, doubling as `Vec` does but
/// never reserving past `max` (the body limit), so that a body near the limit
/// does not reserve twice it.
fn make_room(buf: &mut Vec<u8>, extra: usize, max: usize) {
    let need = buf.len() + extra;
    if need > buf.capacity() {
        let target = need
            .max(buf.capacity().saturating_mul(2))
            .min(max.max(need));
        buf.reserve_exact(target - buf.len());
    }
}

/// Reads a whole body within the limits, drawing on the budget as it arrives.
///
/// The budget counts the bytes received, with or without a `Content-Length`
/// (HTTP/1.1 chunked, HTTP/2 without `content-length`): the part of the
/// buffer reserved but not yet written has no pages in memory, so what a
/// body costs is what it has sent, and the answer depends on the body, not
/// on its framing.
async fn read_body(limits: &BodyLimits, request: Request) -> Result<Body, BodyError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = request.into_body().into_data_stream();
    let declared = declared.map(|n| n as usize);
    let mut body = Body {
        bytes: Vec::with_capacity(declared.unwrap_or(0)),
        total: None,
        large: None,
    };
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
            let len = body.bytes.len() + chunk.len();
            if len > limits.max_bytes || declared.is_some_and(|d| len > d) {
                return Err(BodyError::TooLarge);
            }
            if !limits.take(&mut body, chunk.len()) {
                return Err(BodyError::Budget);
            }
            make_room(&mut body.bytes, chunk.len(), limits.max_bytes);
            body.bytes.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(())) => Ok(body),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(BodyError::Timeout),
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The policy configuration in force (swapped on reload).
    pub config: Arc<ArcSwap<Config>>,
    /// Where node facts come from.
    pub facts: Arc<dyn NodeFacts>,
    /// Set on shutdown: `/readyz` turns false at once.
    pub shutting_down: Arc<AtomicBool>,
    /// How request bodies are read.
    pub body: Arc<BodyLimits>,
}

impl AppState {
    /// State with `config` and node facts from `facts`.
    pub fn new(config: Config, facts: Arc<dyn NodeFacts>) -> Self {
        AppState {
            config: Arc::new(ArcSwap::from_pointee(config)),
            facts,
            shutting_down: Arc::new(AtomicBool::new(false)),
            body: Arc::new(BodyLimits::new(
                DEFAULT_MAX_BODY_BYTES,
                crate::server::DEFAULT_BODY_BUDGET_BYTES,
                Duration::from_secs(10),
            )),
        }
    }

    /// The same state reading bodies within `limits`.
    pub fn with_body_limits(mut self, limits: BodyLimits) -> Self {
        self.body = Arc::new(limits);
        self
    }
}

/// The router with every endpoint, refusing bodies over `max_body_bytes` with
/// 413 (the state's body limits otherwise: 408 past the body timeout, 503
/// past the budget).
pub fn router(mut state: AppState, max_body_bytes: usize) -> Router {
    metrics::handle();
    if state.body.max_bytes != max_body_bytes {
        state.body = Arc::new(BodyLimits::new(
            max_body_bytes,
            state.body.budget_bytes,
            state.body.timeout,
        ));
    }
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ok: certificate loaded, config valid\n".into_response()
    }
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(),
    )
        .into_response()
}

async fn validate(State(state): State<AppState>, request: Request) -> Response {
    handle(&state, Phase::Validate, request).await
}

async fn mutate(State(state): State<AppState>, request: Request) -> Response {
    handle(&state, Phase::Mutate, request).await
}

fn endpoint(phase: Phase) -> &'static str {
    match phase {
        Phase::Validate => "validate",
        Phase::Mutate => "mutate",
    }
}

/// Checks the content type, reads the body (413 past the limit) and reviews it.
async fn handle(state: &AppState, phase: Phase, request: Request) -> Response {
    if !is_json(request.headers()) {
        return refuse(
            endpoint(phase),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".into(),
        );
    }
    let activity = request.extensions().get::<Arc<Activity>>().cloned();
    let endpoint = endpoint(phase);
    let body = match read_body(&state.body, request).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            metrics::rejected(endpoint, 413);
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes\n", state.body.max_bytes),
            )
                .into_response();
        }
        Err(BodyError::Timeout) => {
            metrics::rejected(endpoint, 408);
            tracing::debug!(
                endpoint,
                "request body not received within the body timeout"
            );
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {} ms\n",
                    state.body.timeout.as_millis()
                ),
            )
                .into_response();
        }
        Err(BodyError::Budget) => {
            metrics::rejected(endpoint, 503);
            tracing::debug!(endpoint, "request body budget full");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many request bytes in flight; retry\n",
            )
                .into_response();
        }
        Err(BodyError::Read(e)) => {
            metrics::rejected(endpoint, 400);
            tracing::debug!(endpoint, error = %e, "request body unreadable");
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}\n"),
            )
                .into_response();
        }
    };
    let _busy = activity.as_ref().map(|a| a.busy());
    review(state, phase, &body.bytes).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn refuse(endpoint: &'static str, status: StatusCode, reason: String) -> Response {
    metrics::rejected(endpoint, status.as_u16());
    tracing::warn!(endpoint, status = status.as_u16(), %reason, "refused request body");
    (status, format!("{reason}\n")).into_response()
}

/// Handles one AdmissionReview body end to end through [`pipeline::review`].
pub async fn review(state: &AppState, phase: Phase, body: &[u8]) -> Response {
    let started = Instant::now();
    let endpoint = endpoint(phase);
    let config = state.config.load();
    match pipeline::review(phase, body, &config, state.facts.as_ref()).await {
        Ok(done) => {
            metrics::review(
                endpoint,
                done.kind,
                done.operation,
                done.decision,
                &done.rules,
                started.elapsed().as_secs_f64(),
            );
            json(done.body)
        }
        Err(e) => refuse(endpoint, StatusCode::BAD_REQUEST, e.to_string()),
    }
}

fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
