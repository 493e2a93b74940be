//! HTTP endpoints: `/validate` and `/mutate` (AdmissionReview in and out),
//! `/healthz`, `/readyz` and `/metrics`. Knows nothing about Longhorn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::cluster::NodeFacts;
use crate::config::Config;
use crate::metrics;
use crate::pipeline;
use crate::policy::Phase;

/// The default request body limit: an UPDATE carries two copies of the object.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The policy configuration in force (swapped on reload).
    pub config: Arc<ArcSwap<Config>>,
    /// Where node facts come from.
    pub facts: Arc<dyn NodeFacts>,
    /// Set on shutdown: `/readyz` turns false at once.
    pub shutting_down: Arc<AtomicBool>,
}

impl AppState {
    /// State with `config` and node facts from `facts`.
    pub fn new(config: Config, facts: Arc<dyn NodeFacts>) -> Self {
        AppState {
            config: Arc::new(ArcSwap::from_pointee(config)),
            facts,
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The router with every endpoint, refusing bodies over `max_body_bytes` with 413.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    metrics::handle();
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(max_body_bytes))
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
    match Bytes::from_request(request, &()).await {
        Ok(body) => review(state, phase, &body).await,
        Err(rejection) => {
            let response = rejection.into_response();
            metrics::rejected(endpoint(phase), response.status().as_u16());
            response
        }
    }
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
