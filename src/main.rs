//! The `longhorn-talos-guard` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use longhorn_talos_guard::cluster::{KubeNodes, NoCluster, NodeFacts};
use longhorn_talos_guard::config::ConfigSource;
use longhorn_talos_guard::selfmanaged::{SelfManaged, Timings};
use longhorn_talos_guard::tls::CertStore;
use longhorn_talos_guard::{bench, certs, server, talos};

/// Keeps Longhorn safe on Talos Linux: an admission webhook and offline checks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "LTG_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the admission webhook over HTTPS.
    Serve(Box<ServeArgs>),
    /// Make certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Read Talos machine configs: lint them for Longhorn, derive allowed mounts.
    #[command(subcommand)]
    Talos(TalosCommand),
    /// Measure the policies in-process, or a server under HTTPS load.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Evaluate Kubernetes manifests offline, as the webhook would judge them
    /// on CREATE. Exit status 1 when anything would be denied, 2 on unreadable input.
    Check(CheckArgs),
}

#[derive(Subcommand)]
enum TalosCommand {
    /// Check machine configs, patches and Image Factory schematics against
    /// Longhorn's Talos guide. Exit status 1 on errors, 2 on unreadable input.
    Lint {
        /// Check the V2 data engine prerequisites (implied by a RawVolumeConfig).
        #[arg(long)]
        v2: bool,
        /// Output format.
        #[arg(long, default_value = "text")]
        format: OutputFormat,
        /// The namespace Longhorn is installed in (for the Pod Security check).
        #[arg(long, default_value = "longhorn-system")]
        longhorn_namespace: String,
        /// Files, merged in order as Talos applies patches (later wins).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the allowedMounts the machine config gives the kubelet, as webhook config YAML.
    Mounts {
        /// Files, merged in order as Talos applies patches (later wins).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Decode, evaluate and encode built-in reviews in a loop on one thread.
    Policy {
        /// One fixture; all of them without it.
        #[arg(long)]
        fixture: Option<bench::Fixture>,
        /// Seconds per fixture.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// HTTPS load on /validate, then on /healthz with the same settings.
    /// Without --target, starts `serve` on a free loopback port with fresh dev
    /// certificates (a child process, so that its memory is measured alone).
    Http {
        /// The server, e.g. https://localhost:8443.
        #[arg(long)]
        target: Option<String>,
        /// CA of the target's certificate (default certs-dev/ca.crt).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Connections, each with one request in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds per endpoint.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each measurement.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// The review to send.
        #[arg(long, default_value = "pod")]
        fixture: bench::Fixture,
        /// Use HTTP/1.1 (the default, as the API server calls service webhooks).
        #[arg(long, conflicts_with = "http2")]
        http1: bool,
        /// Use HTTP/2.
        #[arg(long)]
        http2: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Policy configuration file (YAML); the embedded defaults without it.
    #[arg(long, env = "LTG_CONFIG")]
    config: Option<PathBuf>,
    /// Talos machine config(s) whose mounts are added to allowedMounts; repeatable.
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// Namespace for namespaced objects that name none (like kubectl -n).
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Manifest files (YAML or JSON), folders (searched recursively), or - for stdin.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum KubeMode {
    /// Use the in-cluster service account or KUBECONFIG when present.
    Auto,
    /// Never contact the API server (node facts are reported as unknown).
    Off,
}

#[derive(clap::Args)]
struct ServeArgs {
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
    /// Talos machine config(s) to derive allowedMounts from, reloaded when
    /// they change; repeatable (merged in order, later wins).
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// Largest AdmissionReview body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "LTG_MAX_BODY_BYTES", default_value_t = server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "LTG_DRAIN_SECONDS", default_value_t = 10)]
    drain_seconds: u64,
    /// Seconds between re-reads of the certificate and config files, on top of file events.
    #[arg(long, env = "LTG_RELOAD_SECONDS", default_value_t = 60)]
    reload_seconds: u64,
    /// Seconds a client may take to send its request headers.
    #[arg(long, env = "LTG_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    header_timeout_seconds: u64,
    /// Most connections open at once; more are closed on accept.
    #[arg(long, env = "LTG_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
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
    /// Seconds between reads of the self-managed Secret (renewals by another
    /// replica are served after at most this long).
    #[arg(long, env = "LTG_SECRET_POLL_SECONDS", default_value_t = 30)]
    secret_poll_seconds: u64,
    #[command(flatten)]
    timings: TimingArgs,
    /// Whether to look up Kubernetes Nodes (hugepages for V2 block disks).
    #[arg(long, env = "LTG_KUBE", default_value = "auto")]
    kube: KubeMode,
    /// Milliseconds a Node look-up may take (keep it below the webhook's timeoutSeconds).
    #[arg(long, env = "LTG_LOOKUP_TIMEOUT_MS", default_value_t = 2000)]
    lookup_timeout_ms: u64,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CertMode {
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
struct TimingArgs {
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

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a dev CA and serving certificate (ca.crt, tls.crt, tls.key) and
    /// print the base64 caBundle.
    Dev {
        /// Output directory.
        #[arg(long, default_value = "certs-dev")]
        out: PathBuf,
        /// Extra subject alternative name (DNS name or IP); repeatable.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Days the serving certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

const DEV_CERT_DIR: &str = "certs-dev";
const DEV_CA_DAYS: i64 = 3650;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Unreadable input is status 2 for the offline tools (1 means findings), as for grep and diff.
    let error_code = if matches!(cli.command, Command::Talos(_) | Command::Check(_)) {
        2
    } else {
        1
    };
    let result = match cli.command {
        Command::Serve(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(serve(*args)))
            .map(|()| 0),
        Command::Certs(CertsCommand::Dev { out, sans, days }) => {
            certs_dev(&out, sans, days).map(|()| 0)
        }
        Command::Talos(TalosCommand::Lint {
            v2,
            format,
            longhorn_namespace,
            files,
        }) => talos_lint(&files, v2, format, longhorn_namespace),
        Command::Talos(TalosCommand::Mounts { files }) => talos_mounts(&files),
        Command::Check(args) => check(args),
        Command::Bench(BenchCommand::Policy {
            fixture,
            seconds,
            json,
        }) => bench_policy(fixture, seconds, json),
        Command::Bench(cmd @ BenchCommand::Http { .. }) => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(bench_http(cmd))),
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(error_code)
        }
    }
}

fn read_talos(files: &[PathBuf]) -> anyhow::Result<talos::MachineConfig> {
    let mut inputs = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        inputs.push((f.display().to_string(), text));
    }
    Ok(talos::load(&inputs)?)
}

fn talos_lint(
    files: &[PathBuf],
    v2: bool,
    format: OutputFormat,
    longhorn_namespace: String,
) -> anyhow::Result<u8> {
    let config = read_talos(files)?;
    let findings = talos::lint(
        &config,
        &talos::LintOptions {
            v2,
            longhorn_namespace,
        },
    );
    match format {
        OutputFormat::Text => print!("{}", talos::render_text(&findings)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
    }
    Ok(talos::exit_code(&findings) as u8)
}

fn talos_mounts(files: &[PathBuf]) -> anyhow::Result<u8> {
    let config = read_talos(files)?;
    let mounts = talos::derive_mounts(&config);
    if mounts.is_empty() {
        eprintln!(
            "no host path is mounted into the kubelet by these files (no extraMounts, no user volumes)"
        );
        return Ok(1);
    }
    print!("{}", talos::mounts_config_yaml(&mounts));
    Ok(0)
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let source = ConfigSource {
        file: args.config,
        talos_files: args.talos_config,
    };
    let config = source.load()?;
    let inputs = longhorn_talos_guard::check::read_inputs(&args.files)?;
    let results = longhorn_talos_guard::check::check(&inputs, &config, &args.namespace)?;
    print!("{}", longhorn_talos_guard::check::render(&results));
    Ok(u8::from(results.iter().any(|r| r.denied())))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn certs_dev(out: &Path, extra: Vec<String>, days: i64) -> anyhow::Result<()> {
    let mut sans = certs::default_sans();
    sans.extend(extra);
    let made = certs::generate(&sans, days, DEV_CA_DAYS)?;
    certs::write(out, &made)?;
    eprintln!(
        "wrote {dir}/{ca}, {dir}/{cert}, {dir}/{key} (SANs: {sans}; valid {days} days)",
        dir = out.display(),
        ca = certs::CA_FILE,
        cert = certs::CERT_FILE,
        key = certs::KEY_FILE,
        sans = sans.join(", ")
    );
    eprintln!("caBundle:");
    println!("{}", made.ca_bundle());
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    tokio::pin!(stop);
    let client = match args.kube {
        KubeMode::Off => None,
        KubeMode::Auto => match kube::Client::try_default().await {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::info!(reason = %e, "no Kubernetes API: node look-ups will report unknown");
                None
            }
        },
    };
    let facts: Arc<dyn NodeFacts> = match &client {
        None => Arc::new(NoCluster),
        Some(client) => Arc::new(KubeNodes::new(
            client.clone(),
            Duration::from_millis(args.lookup_timeout_ms),
            Duration::from_secs(30),
        )),
    };
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
            let interval = Duration::from_secs(args.secret_poll_seconds.max(1));
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
        config: ConfigSource {
            file: args.config,
            talos_files: args.talos_config,
        },
        max_body_bytes: args.max_body_bytes,
        drain_timeout: Duration::from_secs(args.drain_seconds),
        reload_interval: Duration::from_secs(args.reload_seconds.max(1)),
        header_read_timeout: Duration::from_secs(args.header_timeout_seconds.max(1)),
        max_connections: args.max_connections.max(1),
    };
    let running = tokio::select! {
        running = server::start(&opts, facts) => running?,
        () = &mut stop => {
            tracing::info!("stopped before serving");
            return Ok(());
        }
    };
    stop.await;
    running.shutdown().await
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

fn bench_policy(fixture: Option<bench::Fixture>, seconds: f64, json: bool) -> anyhow::Result<u8> {
    let fixtures = fixture.map_or(bench::Fixture::ALL.to_vec(), |f| vec![f]);
    let mut reports = Vec::new();
    for f in fixtures {
        reports.push(bench::policy(f, Duration::from_secs_f64(seconds))?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(0);
    }
    println!("fixture    bytes   reviews/s   ns/review   (one thread: decode, evaluate, encode)");
    for r in &reports {
        println!(
            "{:<9} {:>6} {:>11.0} {:>11.0}",
            r.fixture.name(),
            r.bytes,
            r.reviews_per_sec,
            r.ns_per_review
        );
    }
    Ok(0)
}

async fn bench_http(cmd: BenchCommand) -> anyhow::Result<u8> {
    let BenchCommand::Http {
        target,
        ca,
        concurrency,
        duration,
        warmup,
        fixture,
        http1: _,
        http2,
        json,
    } = cmd
    else {
        unreachable!("called for bench http only");
    };
    let proto = if http2 {
        bench::Proto::Http2
    } else {
        bench::Proto::Http1
    };
    let (child, addr, server_name, ca_pem) = match &target {
        None => {
            let exe = std::env::current_exe().context("cannot find this executable")?;
            let child = bench::ChildServer::start(&exe).await?;
            let (addr, ca) = (child.addr, child.ca_pem()?);
            (Some(child), addr, "localhost".to_string(), ca)
        }
        Some(url) => {
            let uri: axum::http::Uri = url
                .parse()
                .with_context(|| format!("--target {url:?} is not a URL"))?;
            let host = uri.host().context("--target has no host")?.to_string();
            let port = uri.port_u16().unwrap_or(443);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .with_context(|| format!("{host} does not resolve"))?;
            let ca = ca.unwrap_or_else(|| PathBuf::from("certs-dev/ca.crt"));
            let pem =
                std::fs::read(&ca).with_context(|| format!("cannot read CA {}", ca.display()))?;
            (None, addr, host, pem)
        }
    };
    let idle = match &child {
        Some(c) => Some(c.rss()?.0),
        None => None,
    };
    let opts = bench::LoadOptions {
        addr,
        server_name,
        ca_pem,
        concurrency: concurrency.max(1),
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        proto,
    };
    let review = bench::load(&opts, "/validate", Some(fixture.body())).await?;
    let health = bench::load(&opts, "/healthz", None).await?;
    let peak = match &child {
        Some(c) => Some(c.rss()?.1),
        None => None,
    };
    let ratio = if health.requests_per_sec > 0.0 {
        review.requests_per_sec / health.requests_per_sec
    } else {
        0.0
    };
    if json {
        let out = serde_json::json!({
            "target": addr.to_string(),
            "fixture": fixture,
            "bytes": fixture.body().len(),
            "proto": proto,
            "concurrency": opts.concurrency,
            "duration_s": duration,
            "validate": review,
            "healthz": health,
            "ratio": ratio,
            "ready_ms": child.as_ref().map(|c| c.ready_after.as_secs_f64() * 1000.0),
            "idle_rss_bytes": idle,
            "peak_rss_bytes": peak,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &child {
            Some(c) => println!(
                "server: {} started by bench, ready in {:.1} ms, idle RSS {}",
                addr,
                c.ready_after.as_secs_f64() * 1000.0,
                bench::mib(idle.unwrap_or(0))
            ),
            None => println!("server: {addr} (--target)"),
        }
        println!(
            "{:?}, {} connections, {duration} s measured after {warmup} s warm-up",
            proto, opts.concurrency
        );
        println!(
            "endpoint                      req/s     p50 µs   p90 µs   p99 µs   max µs   errors"
        );
        for (name, r) in [
            (
                format!(
                    "POST /validate ({}, {} B)",
                    fixture.name(),
                    fixture.body().len()
                ),
                &review,
            ),
            ("GET /healthz".to_string(), &health),
        ] {
            let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            println!(
                "{:<28} {:>8.0} {:>9} {:>8} {:>8} {:>8}   {}",
                name,
                r.requests_per_sec,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.max_us,
                if errors.is_empty() {
                    "0".to_string()
                } else {
                    errors.join(", ")
                }
            );
        }
        println!("admission/healthz throughput: {:.0}%", ratio * 100.0);
        if let Some(p) = peak {
            println!("server peak RSS: {}", bench::mib(p));
        }
    }
    let failed = review.errors.values().sum::<u64>() + health.errors.values().sum::<u64>();
    Ok(u8::from(failed > 0))
}
