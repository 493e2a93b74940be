//! The HTTPS server: binds, serves the router over rustls (HTTP/1.1 and h2),
//! reloads the certificate and the config when their files change, and
//! drains on shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::cluster::NodeFacts;
use crate::metrics;
use crate::source::ConfigSource;
use crate::tls::CertStore;

pub mod conn;
pub mod limit;
pub mod router;

pub use router::{AppState, BodyLimits, DEFAULT_MAX_BODY_BYTES};

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the serving certificate comes from.
    pub certs: CertSource,
    /// Where the policy configuration comes from (reloaded when its files change).
    pub config: ConfigSource,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// How often the certificate and config files are re-read even without a
    /// file event.
    pub reload_interval: Duration,
    /// Slowest a client may be to send its request headers; also the longest
    /// a connection may stay with no request open (before the first one and
    /// between requests, HTTP/1.1 and HTTP/2).
    pub header_read_timeout: Duration,
    /// Most connections open at once; past it the oldest idle one is shed.
    pub max_connections: usize,
    /// The other limits; [`Limits::default`] is what `serve` ships with.
    pub limits: Limits,
}

/// Limits on what clients may hold, beyond the body size and connection count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest time to receive a whole request body, from its headers on.
    pub body_timeout: Duration,
    /// Bytes all request bodies being read or reviewed may hold together.
    pub body_budget_bytes: usize,
    /// HTTP/2: most streams open at once on one connection.
    pub h2_max_streams: u32,
    /// HTTP/2: flow-control window of one stream, in bytes.
    pub h2_stream_window: u32,
    /// HTTP/2: flow-control window of a connection, in bytes.
    pub h2_connection_window: u32,
    /// Largest request head in bytes (HTTP/1.1 read buffer, HTTP/2 header list).
    pub max_header_bytes: u32,
    /// How often the metrics recorder folds recorded samples into its histograms.
    pub metrics_upkeep: Duration,
}

/// Default body budget: two largest bodies at the default size.
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 16 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            body_budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
            h2_max_streams: 32,
            h2_stream_window: 256 * 1024,
            h2_connection_window: 1024 * 1024,
            max_header_bytes: 32 * 1024,
            metrics_upkeep: Duration::from_secs(5),
        }
    }
}

/// Starts the task that keeps a [`CertStore`] current (the self-managed
/// reconciler, wired in by the `serve` command); the server aborts the task
/// on shutdown.
pub type Refresh = Arc<dyn Fn(Arc<CertStore>) -> tokio::task::JoinHandle<()> + Send + Sync>;

/// Where the serving certificate comes from.
#[derive(Clone)]
pub enum CertSource {
    /// PEM files, reloaded when they change.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// A store filled by someone else (a Secret read through the API), kept
    /// current by the task `refresh` starts.
    Managed {
        /// The store, holding the first pair.
        store: Arc<CertStore>,
        /// Starts the task that updates the store.
        refresh: Refresh,
    },
}

impl std::fmt::Display for CertSource {
    /// `files tls.crt, tls.key` or `self-managed`, for the start-up log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertSource::Files { cert, key } => {
                write!(f, "files {}, {}", cert.display(), key.display())
            }
            CertSource::Managed { .. } => f.write_str("self-managed (Secret)"),
        }
    }
}

impl std::fmt::Debug for CertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertSource::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            CertSource::Managed { store, .. } => f
                .debug_struct("Managed")
                .field("store", store)
                .finish_non_exhaustive(),
        }
    }
}

/// A running server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// The shared handler state (config in force, readiness).
    pub state: AppState,
    /// The serving certificate store.
    pub certs: Arc<CertStore>,
    stop: watch::Sender<bool>,
    table: Arc<limit::Table>,
    drain: Duration,
    task: tokio::task::JoinHandle<()>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Turns readiness false, stops accepting, lets in-flight requests finish
    /// within the drain time, and waits for the server to stop.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.state.shutting_down.store(true, Ordering::Relaxed);
        tracing::info!(
            drain_ms = self.drain.as_millis() as u64,
            "shutting down: draining in-flight requests"
        );
        self.stop.send_replace(true);
        for w in &self.watchers {
            w.abort();
        }
        self.task.await.context("server task failed")?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Connections open now (handshaking, idle or serving).
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }
}

/// Loads the certificate and config, binds, and starts serving in the background.
pub async fn start(opts: &ServeOptions, facts: Arc<dyn NodeFacts>) -> anyhow::Result<Running> {
    let config = opts.config.load()?;
    let certs = match &opts.certs {
        CertSource::Files { cert, key } => Arc::new(CertStore::load(cert, key)?),
        CertSource::Managed { store, .. } => store.clone(),
    };
    metrics::handle();
    metrics::cert_expiry(certs.not_after());

    let state = AppState::new(config, facts).with_body_limits(BodyLimits::new(
        opts.max_body_bytes,
        opts.limits.body_budget_bytes,
        opts.limits.body_timeout,
    ));
    let app = router::router(state.clone(), opts.max_body_bytes);
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(
        certs
            .server_config()
            .context("building the TLS configuration")?,
    ));
    metrics::spawn_upkeep(opts.limits.metrics_upkeep);

    let listener = std::net::TcpListener::bind(opts.listen)
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let table = limit::Table::new(opts.max_connections);
    let shared = Arc::new(conn::Shared {
        table: table.clone(),
        limits: conn::ConnLimits {
            handshake_timeout: opts.limits.handshake_timeout,
            idle_timeout: opts.header_read_timeout,
            h2_max_streams: opts.limits.h2_max_streams,
            h2_stream_window: opts.limits.h2_stream_window,
            h2_connection_window: opts.limits.h2_connection_window,
            max_header_bytes: opts.limits.max_header_bytes,
        },
        tls,
        app,
    });
    let (stop, stopped) = watch::channel(false);

    let mut watchers = vec![match &opts.certs {
        CertSource::Files { .. } => spawn_cert_reload(&certs, opts.reload_interval),
        CertSource::Managed { refresh, .. } => refresh(certs.clone()),
    }];
    if !opts.config.files().is_empty() {
        watchers.push(spawn_config_reload(
            opts.config.clone(),
            &state,
            opts.reload_interval,
        ));
    }
    let task = tokio::spawn(conn::accept_loop(
        listener,
        shared,
        stopped,
        opts.drain_timeout,
    ));
    tracing::info!(addr = %local_addr, certs = %opts.certs,
        config = %describe(&opts.config),
        "serving admission reviews on https://{local_addr}/validate and /mutate");
    Ok(Running {
        local_addr,
        state,
        certs,
        stop,
        table,
        drain: opts.drain_timeout,
        task,
        watchers,
    })
}

fn spawn_cert_reload(certs: &Arc<CertStore>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let store = certs.clone();
    crate::watch::spawn(
        "certificate",
        &certs.files(),
        interval,
        move || match store.reload() {
            Ok(false) => {}
            Ok(true) => {
                metrics::cert_expiry(store.not_after());
                metrics::reload("certificate", "ok");
                tracing::info!(
                    not_after = store.not_after(),
                    "serving certificate reloaded"
                );
            }
            Err(e) => {
                metrics::reload("certificate", "error");
                tracing::error!(error = %e, "new certificate rejected; keeping the previous one");
            }
        },
    )
}

fn describe(source: &ConfigSource) -> String {
    let files = source.files();
    if files.is_empty() {
        "embedded defaults".into()
    } else {
        files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn spawn_config_reload(
    source: ConfigSource,
    state: &AppState,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let config = state.config.clone();
    let last = std::sync::Mutex::new(source.snapshot().ok());
    let files = source.files();
    crate::watch::spawn("config", &files, interval, move || {
        let snapshot = match source.snapshot() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read config; keeping the previous one");
                return;
            }
        };
        let mut seen = last.lock().unwrap_or_else(|p| p.into_inner());
        if seen.as_ref() == Some(&snapshot) {
            return;
        }
        *seen = Some(snapshot);
        match source.load() {
            Ok(new) => {
                config.store(Arc::new(new));
                metrics::reload("config", "ok");
                tracing::info!(config = %describe(&source), "config reloaded");
            }
            Err(e) => {
                metrics::reload("config", "error");
                tracing::error!(error = %e, "new config rejected; keeping the previous one");
            }
        }
    })
}
