//! `serve`: the admission webhook over HTTPS. Wires the pieces the library
//! keeps apart: node look-ups, the certificate source (files, or the
//! self-managed reconciler feeding the certificate store) and the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use longhorn_talos_guard::audit::background::NodeAudit;
use longhorn_talos_guard::audit::nodes::{
    NodeStore, ReaderOptions, SERVICE_ACCOUNT, TalosAccess, WithReports, spawn_reader,
};
use longhorn_talos_guard::cluster::{KubeNodes, NoCluster, NodeFacts};
use longhorn_talos_guard::selfmanaged::{SelfManaged, Timings};
use longhorn_talos_guard::source::ConfigSource;
use longhorn_talos_guard::tls::CertStore;
use longhorn_talos_guard::{certs, server};

use super::certs::DEV_CA_DAYS;
use super::duration;

const DEV_CERT_DIR: &str = "certs-dev";

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KubeMode {
    /// Use the in-cluster service account or KUBECONFIG when present.
    Auto,
    /// Never contact the API server (node facts are reported as unknown).
    Off,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "LTG_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Directory holding tls.crt and tls.key. Without it (and without
    /// --tls-cert), certs-dev/ is used and dev certificates are made there if missing.
    #[arg(long, env = "LTG_CERT_DIR")]
    cert_dir: Option<PathBuf>,
    /// Serving certificate (PEM); overrides --cert-dir.
    #[arg(long, env = "LTG_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Serving key (PEM); overrides --cert-dir.
    #[arg(long, env = "LTG_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Policy configuration file (YAML), reloaded when it changes; the
    /// embedded defaults without it.
    #[arg(long, env = "LTG_CONFIG")]
    config: Option<PathBuf>,
    /// Talos machine config(s) of the nodes, for the host model (volumes and
    /// their types, extraMounts, KubeletConfig, version), reloaded when they
    /// change; repeatable (merged in order, later wins).
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// Largest AdmissionReview body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "LTG_MAX_BODY_BYTES", default_value_t = server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Time in-flight requests get to finish after SIGTERM: seconds, or a
    /// duration such as 10s, 500ms, 1m30s.
    #[arg(long, env = "LTG_DRAIN_SECONDS", default_value = "10", value_parser = duration::seconds)]
    drain_seconds: Duration,
    /// Time between re-reads of the certificate and config files, on top of
    /// file events: seconds, or a duration (1m).
    #[arg(long, env = "LTG_RELOAD_SECONDS", default_value = "60", value_parser = duration::seconds)]
    reload_seconds: Duration,
    /// Time a client may take to send its request headers, and the longest a
    /// connection may stay with no request open (before the first one and
    /// between requests): seconds, or a duration (10s).
    #[arg(long, env = "LTG_HEADER_TIMEOUT_SECONDS", default_value = "10", value_parser = duration::seconds)]
    header_timeout_seconds: Duration,
    /// Time a client may take to complete the TLS handshake: seconds, or a duration (5s).
    #[arg(long, env = "LTG_HANDSHAKE_TIMEOUT_SECONDS", default_value = "5", value_parser = duration::seconds)]
    handshake_timeout_seconds: Duration,
    /// Time a client may take to send a whole request body once its headers
    /// are in (larger waits get 408): seconds, or a duration (10s).
    #[arg(long, env = "LTG_BODY_TIMEOUT_SECONDS", default_value = "10", value_parser = duration::seconds)]
    body_timeout_seconds: Duration,
    /// Bytes all request bodies being read or reviewed may hold together;
    /// a body that would pass it gets 503 (at least --max-body-bytes).
    #[arg(long, env = "LTG_BODY_BUDGET_BYTES", default_value_t = server::DEFAULT_BODY_BUDGET_BYTES)]
    body_budget_bytes: usize,
    /// Most connections open at once; past it the connection idle the
    /// longest is closed to make room (a new one is refused only when every
    /// connection is in the middle of a review).
    #[arg(long, env = "LTG_MAX_CONNECTIONS", default_value_t = 256)]
    max_connections: usize,
    /// Largest request head (HTTP/1.1 request line and headers, HTTP/2 header list), in bytes.
    #[arg(long, env = "LTG_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    max_header_bytes: u32,
    /// HTTP/2: most concurrent streams on one connection.
    #[arg(long, env = "LTG_H2_MAX_STREAMS", default_value_t = 32)]
    h2_max_streams: u32,
    /// HTTP/2: flow-control window of one stream, in bytes.
    #[arg(long, env = "LTG_H2_STREAM_WINDOW_BYTES", default_value_t = 256 * 1024)]
    h2_stream_window_bytes: u32,
    /// HTTP/2: flow-control window of one connection, in bytes.
    #[arg(long, env = "LTG_H2_CONNECTION_WINDOW_BYTES", default_value_t = 1024 * 1024)]
    h2_connection_window_bytes: u32,
    /// Time between folds of recorded latency samples into the metrics
    /// histograms, which bounds their memory when nobody scrapes: seconds, or
    /// a duration (5s).
    #[arg(long, env = "LTG_METRICS_UPKEEP_SECONDS", default_value = "5", value_parser = duration::seconds)]
    metrics_upkeep_seconds: Duration,
    /// Where the serving certificate comes from: `files` (--cert-dir, or
    /// certs-dev/), `self-managed` (a CA and certificate kept in a Secret, the
    /// CA written into the webhook configurations), or `auto`: self-managed
    /// in a cluster unless certificate files are given, files otherwise.
    #[arg(long, env = "LTG_CERT_MODE", default_value = "auto")]
    cert_mode: CertMode,
    /// Namespace of the guard (self-managed: where its Secret lives).
    #[arg(long, env = "POD_NAMESPACE", default_value = certs::NAMESPACE)]
    namespace: String,
    /// Secret holding the self-managed CA and serving certificate.
    #[arg(
        long,
        env = "LTG_SECRET_NAME",
        default_value = "longhorn-talos-guard-tls"
    )]
    secret_name: String,
    /// Name of the guard's Mutating- and ValidatingWebhookConfiguration, whose
    /// caBundle self-managed mode writes (only those two objects).
    #[arg(
        long,
        env = "LTG_WEBHOOK_CONFIGURATION",
        default_value = "longhorn-talos-guard"
    )]
    webhook_configuration: String,
    /// Service the API server dials; the self-managed certificate is valid for
    /// its in-cluster names.
    #[arg(long, env = "LTG_SERVICE_NAME", default_value = certs::SERVICE)]
    service_name: String,
    /// Extra name (DNS or IP) for the self-managed certificate; repeatable.
    #[arg(long = "san")]
    sans: Vec<String>,
    /// Time between reads of the self-managed Secret (renewals by another
    /// replica are served after at most this long): seconds, or a duration (30s).
    #[arg(long, env = "LTG_SECRET_POLL_SECONDS", default_value = "30", value_parser = duration::seconds)]
    secret_poll_seconds: Duration,
    #[command(flatten)]
    timings: TimingArgs,
    #[command(flatten)]
    audit: super::audit::BackgroundArgs,
    #[command(flatten)]
    nodes: NodeArgs,
    /// Whether to look up Kubernetes Nodes (hugepages for V2 block disks).
    #[arg(long, env = "LTG_KUBE", default_value = "auto")]
    kube: KubeMode,
    /// Time a Node look-up may take (keep it below the webhook's
    /// timeoutSeconds): milliseconds, or a duration (2s).
    #[arg(long, env = "LTG_LOOKUP_TIMEOUT_MS", default_value = "2000", value_parser = duration::millis)]
    lookup_timeout_ms: Duration,
    /// Which admission engine runs the rules: `webhook` (this server only),
    /// `cel` (the rules CEL can express also run in the API server as the
    /// ValidatingAdmissionPolicies and MutatingAdmissionPolicy `policies cel`
    /// generates, which the guard server-side applies and keeps in step with
    /// its configuration; the webhook configurations are narrowed to the rest
    /// by the install), or `both` (the policies, and the webhook for everything).
    #[arg(long, env = "LTG_ADMISSION_ENGINE", default_value = "webhook")]
    admission_engine: AdmissionEngine,
    /// Time between full re-applies of the CEL policies (repairing changes
    /// made by others), on top of every configuration change: seconds, or a
    /// duration (10m).
    #[arg(long, env = "LTG_CEL_RESYNC_SECONDS", default_value = "600", value_parser = duration::seconds)]
    cel_resync_seconds: Duration,
    /// Once listening, write the bound address (`host:port` and a newline) to
    /// this file, atomically (a temporary file renamed into place); removed on
    /// a clean exit. For scripts and tests that listen on port 0.
    #[arg(long, env = "LTG_READY_FILE")]
    ready_file: Option<PathBuf>,
}

/// Reading the nodes through the Talos API, inside the cluster.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// Read every Kubernetes Node through the Talos API (apid at the
    /// talosconfig's endpoint, `talos.default` in a cluster) with the
    /// talosconfig of a talos.dev ServiceAccount, on every replica: the
    /// background audit reports each node's talos preflight findings, and
    /// LTG-W015 warns about new disks under /var/mnt without a ready volume.
    #[arg(long, env = "LTG_READ_NODES")]
    read_nodes: bool,
    /// The talosconfig (else $TALOSCONFIG, else where Talos mounts a
    /// ServiceAccount's Secret: /var/run/secrets/talos.dev/config), re-read at
    /// every round: a renewed one is used, an unusable one keeps the last good one.
    #[arg(long, env = "LTG_TALOSCONFIG", value_name = "FILE")]
    talosconfig: Option<PathBuf>,
    /// Time between rounds of node reading: seconds, or a duration (5m). Facts
    /// count for admission for two rounds and the per-node deadline after
    /// they were read; older ones are ignored.
    #[arg(long, env = "LTG_READ_NODES_INTERVAL", default_value = "5m", value_parser = duration::seconds)]
    read_nodes_interval: Duration,
    /// The time one node may take, all its calls together: seconds, or a duration.
    #[arg(long, env = "LTG_READ_NODES_TIMEOUT", default_value = "10s", value_parser = duration::seconds)]
    read_nodes_timeout: Duration,
    /// The talos.dev ServiceAccount (in --namespace) whose Secret holds the
    /// talosconfig; the audit reports Talos's status message on it.
    #[arg(long, env = "LTG_TALOS_SERVICE_ACCOUNT", default_value = SERVICE_ACCOUNT)]
    talos_service_account: String,
}

impl NodeArgs {
    /// The file to read: the flag, `$TALOSCONFIG`, else the Secret's mount.
    fn talosconfig(&self) -> PathBuf {
        self.talosconfig
            .clone()
            .or_else(|| std::env::var_os("TALOSCONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(SECRET_MOUNT_CONFIG))
    }

    /// How long facts count: two rounds and the deadline of one.
    fn max_age(&self) -> Duration {
        self.read_nodes_interval * 2 + self.read_nodes_timeout
    }
}

/// Where Talos's clients find a ServiceAccount's talosconfig (siderolabs/talos
/// pkg/machinery/constants `ServiceAccountMountPath` and `TalosconfigFilename`,
/// v1.14.0-rc.1; the last of [`talosconfig::default_paths`]).
///
/// [`talosconfig::default_paths`]: longhorn_talos_guard::talos::api::talosconfig::default_paths
const SECRET_MOUNT_CONFIG: &str = "/var/run/secrets/talos.dev/config";

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AdmissionEngine {
    /// The webhook alone.
    Webhook,
    /// The generated CEL policies for what CEL can express; the webhook for the rest.
    Cel,
    /// The generated CEL policies and the webhook for every rule.
    Both,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CertMode {
    /// Self-managed in a cluster unless certificate files are given; files otherwise.
    Auto,
    /// --cert-dir or --tls-cert/--tls-key (certs-dev/ without them).
    Files,
    /// A CA and certificate kept in a Secret; the CA written into the webhooks' caBundle.
    SelfManaged,
}

/// Lifetimes of self-managed certificates (seconds). Hidden: the defaults
/// are what a cluster wants; the tests shorten them.
#[derive(clap::Args)]
pub struct TimingArgs {
    #[arg(long, hide = true, default_value_t = 3650 * 86_400)]
    ca_validity_seconds: i64,
    #[arg(long, hide = true, default_value_t = 365 * 86_400)]
    ca_renew_before_seconds: i64,
    #[arg(long, hide = true, default_value_t = 90 * 86_400)]
    cert_validity_seconds: i64,
    #[arg(long, hide = true, default_value_t = 30 * 86_400)]
    cert_renew_before_seconds: i64,
    #[arg(long, hide = true, default_value_t = 600)]
    ca_overlap_seconds: i64,
}

impl TimingArgs {
    fn timings(&self) -> Timings {
        Timings {
            ca_validity: time::Duration::seconds(self.ca_validity_seconds),
            ca_renew_before: time::Duration::seconds(self.ca_renew_before_seconds),
            cert_validity: time::Duration::seconds(self.cert_validity_seconds),
            cert_renew_before: time::Duration::seconds(self.cert_renew_before_seconds),
            overlap: time::Duration::seconds(self.ca_overlap_seconds),
        }
    }
}

/// Runs `serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    tokio::pin!(stop);
    let config = ConfigSource {
        file: args.config.clone(),
        talos_files: args.talos_config.clone(),
    };
    // A config that cannot be loaded is the first thing reported, before
    // anything about the cluster or the certificates.
    config.load()?;
    let client = match args.kube {
        KubeMode::Off => None,
        KubeMode::Auto => kube_client().await,
    };
    let cel_client = match args.admission_engine {
        AdmissionEngine::Webhook => None,
        _ => Some(client.clone().context(
            "--admission-engine cel or both needs the Kubernetes API (in-cluster service account or KUBECONFIG, and --kube auto) to apply the policies",
        )?),
    };
    let facts: Arc<dyn NodeFacts> = match &client {
        None => Arc::new(NoCluster),
        Some(client) => Arc::new(KubeNodes::new(
            client.clone(),
            args.lookup_timeout_ms,
            Duration::from_secs(30),
        )),
    };
    let (facts, node_audit, _reader) = if args.nodes.read_nodes {
        let kube = client.clone().context(
            "--read-nodes needs the Kubernetes API (in-cluster service account or KUBECONFIG, and --kube auto): the nodes are the Kubernetes Nodes",
        )?;
        let store = Arc::new(NodeStore::new(args.nodes.max_age()));
        let access = Arc::new(TalosAccess::new(
            args.nodes.talosconfig(),
            args.nodes.read_nodes_timeout,
        ));
        let reader = spawn_reader(
            kube,
            access,
            store.clone(),
            ReaderOptions {
                interval: args.nodes.read_nodes_interval.max(Duration::from_secs(1)),
                parallel: 16,
                deadline: args.nodes.read_nodes_timeout,
            },
        );
        let facts: Arc<dyn NodeFacts> = Arc::new(WithReports {
            inner: facts,
            store: store.clone(),
        });
        let audit = NodeAudit {
            store,
            account_namespace: args.namespace.clone(),
            account_name: args.nodes.talos_service_account.clone(),
        };
        (facts, Some(audit), Some(reader))
    } else {
        (facts, None, None)
    };
    let _audit = args
        .audit
        .spawn(client.as_ref(), &config, &args.namespace, node_audit)?;
    let explicit_files = args.tls_cert.is_some() || args.cert_dir.is_some();
    let mode = match args.cert_mode {
        CertMode::Auto
            if !explicit_files && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() =>
        {
            CertMode::SelfManaged
        }
        CertMode::Auto => CertMode::Files,
        m => m,
    };
    let certs = match mode {
        CertMode::SelfManaged => {
            let client = client.context(
                "--cert-mode self-managed needs the Kubernetes API (in-cluster service account or KUBECONFIG, and --kube auto)",
            )?;
            let mut sans = certs::service_sans(&args.service_name, &args.namespace);
            sans.extend(args.sans.iter().cloned());
            let manager = SelfManaged::new(
                client,
                &args.namespace,
                &args.secret_name,
                &args.webhook_configuration,
                sans,
                args.timings.timings(),
            );
            let manager = Arc::new(manager);
            let interval = args.secret_poll_seconds.max(Duration::from_secs(1));
            let first = tokio::select! {
                first = manager.first_state(Duration::from_secs(30)) => first?,
                () = &mut stop => {
                    tracing::info!("stopped before serving");
                    return Ok(());
                }
            };
            let store = Arc::new(CertStore::from_pem(
                &format!("secret {}", manager.secret_ref()),
                first.cert.as_bytes(),
                first.key.as_bytes(),
            )?);
            server::CertSource::Managed {
                store,
                refresh: Arc::new(move |store| manager.clone().spawn(store, interval)),
            }
        }
        _ => {
            let (cert, key) = cert_files(&args)?;
            server::CertSource::Files { cert, key }
        }
    };
    let opts = server::ServeOptions {
        listen: args.listen,
        certs,
        config,
        max_body_bytes: args.max_body_bytes,
        drain_timeout: args.drain_seconds,
        reload_interval: args.reload_seconds.max(Duration::from_secs(1)),
        header_read_timeout: args.header_timeout_seconds.max(Duration::from_millis(100)),
        max_connections: args.max_connections.max(1),
        limits: server::Limits {
            handshake_timeout: args
                .handshake_timeout_seconds
                .max(Duration::from_millis(100)),
            body_timeout: args.body_timeout_seconds.max(Duration::from_millis(100)),
            body_budget_bytes: args.body_budget_bytes,
            h2_max_streams: args.h2_max_streams.max(1),
            // HTTP/2's smallest window (RFC 9113 6.9.2), and its largest.
            h2_stream_window: args.h2_stream_window_bytes.clamp(65_535, (1 << 31) - 1),
            h2_connection_window: args.h2_connection_window_bytes.clamp(65_535, (1 << 31) - 1),
            max_header_bytes: args.max_header_bytes.max(8192),
            metrics_upkeep: args.metrics_upkeep_seconds.max(Duration::from_millis(100)),
        },
    };
    let running = tokio::select! {
        running = server::start(&opts, facts) => running?,
        () = &mut stop => {
            tracing::info!("stopped before serving");
            return Ok(());
        }
    };
    let cel = cel_client.map(|client| {
        longhorn_talos_guard::cel_sync::spawn(
            client,
            running.state.config.clone(),
            args.reload_seconds.max(Duration::from_secs(1)),
            args.cel_resync_seconds.max(Duration::from_secs(1)),
        )
    });
    if let Some(path) = &args.ready_file {
        write_ready_file(path, running.local_addr)?;
    }
    stop.await;
    if let Some(task) = cel {
        task.abort();
    }
    let result = running.shutdown().await;
    if let Some(path) = &args.ready_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The Kubernetes client of `--kube auto`, if there is an API to talk to.
/// Outside a cluster and without a kubeconfig that is normal and said in one
/// line (the client's reasons at debug); a kubeconfig or cluster that is there
/// but unusable is a warning with the reason.
async fn kube_client() -> Option<kube::Client> {
    match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(e) => {
            let configured = std::env::var_os("KUBECONFIG").is_some()
                || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            if configured {
                tracing::warn!(reason = %e, "cannot use the Kubernetes API: node look-ups will report unknown");
            } else {
                tracing::info!(
                    "no Kubernetes API found (KUBECONFIG unset and not in a cluster): node look-ups will report unknown"
                );
                tracing::debug!(reason = %e, "kube client");
            }
            None
        }
    }
}

/// Writes `addr` and a newline to `path` through a temporary file in the
/// same folder, so that a reader sees the whole address or no file.
fn write_ready_file(path: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{addr}\n"))
        .with_context(|| format!("cannot write the ready file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the ready file {}", path.display())
    })
}

/// The certificate files of `--cert-mode files`: explicit, a folder, or
/// certs-dev/ (made when missing).
fn cert_files(args: &ServeArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    Ok(match (&args.tls_cert, &args.tls_key, &args.cert_dir) {
        (Some(c), Some(k), _) => (c.clone(), k.clone()),
        (_, _, Some(dir)) => certs::pair_paths(dir),
        _ => {
            let dir = Path::new(DEV_CERT_DIR);
            let (c, k) = certs::pair_paths(dir);
            if !c.exists() || !k.exists() {
                let made = certs::generate(&certs::default_sans(), 365, DEV_CA_DAYS)?;
                certs::write(dir, &made)?;
                tracing::info!(
                    dir = DEV_CERT_DIR,
                    "made dev certificates; trust certs-dev/ca.crt"
                );
            }
            (c, k)
        }
    })
}

/// Registers SIGTERM and Ctrl-C handlers now (before the server starts, so
/// that a signal during start-up is not lost to the default action) and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            _ = term => tracing::info!("SIGTERM received"),
        }
    })
}

/// Runs `serve` on a multi-threaded runtime; status 0 after a clean stop.
pub fn main(args: ServeArgs) -> anyhow::Result<u8> {
    fixed_mmap_threshold();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(args)))
        .map(|()| 0)
}

/// Fixes glibc's mmap threshold at its default (128 KiB) before any thread
/// starts, so that every request body past it gets its own mapping and goes
/// back to the kernel when freed. Left dynamic, glibc raises the threshold to
/// the size of each large block freed (up to 32 MiB), and later bodies come
/// from the per-thread heaps, which keep their pages: under many large bodies
/// on a busy machine the peak RSS of `tests/dos.rs` went from about 43 MiB to
/// 70 MiB, past the shipped 64 MiB limit, while the body budget held.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the runtime starts any thread. It returns 0 on failure, which leaves
    // glibc's default behaviour (nothing to undo).
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    if ok == 0 {
        tracing::warn!(
            "could not fix the allocator's mmap threshold; large request bodies may raise the memory in use"
        );
    }
}

/// Other allocators return large blocks on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}
