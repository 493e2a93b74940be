//! `audit`: reads a live cluster (read-only) and reports what the webhook's
//! rules and Longhorn's own status say, each with its Talos fix; and the
//! `serve --audit-interval` switch of the background audit.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::ValueEnum;
use longhorn_talos_guard::audit::{self, background, collect, render, report};
use longhorn_talos_guard::base::Level;
use longhorn_talos_guard::source::ConfigSource;

use super::{duration, emit};

/// Output format of `audit`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuditFormat {
    // For people.
    Text,
    // The findings, for programs.
    Json,
    // PolicyReport and ClusterPolicyReport objects (wgpolicyk8s.io/v1alpha2).
    Yaml,
}

/// Arguments of `audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// Policy configuration file (YAML); the embedded defaults without it.
    #[arg(long, env = "LTG_CONFIG")]
    config: Option<PathBuf>,
    /// Talos machine config(s) of the nodes: the host model then knows their volumes; repeatable.
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// Kubeconfig file; without it KUBECONFIG, ~/.kube/config or the in-cluster account.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use (its current context without it).
    #[arg(long)]
    context: Option<String>,
    /// The Pod Security enforce level the API server applies to a namespace
    /// without the label (overrides clusterDefaultEnforce of the config;
    /// Talos's default is baseline).
    #[arg(long, value_parser = level)]
    pod_security_default: Option<Level>,
    /// Output format.
    #[arg(short = 'o', long, default_value = "text")]
    format: AuditFormat,
}

fn level(text: &str) -> Result<Level, String> {
    Level::from_label(text).ok_or_else(|| {
        format!("{text:?} is not a Pod Security level (privileged, baseline, restricted)")
    })
}

/// The client for `--kubeconfig`/`--context`, or the default one.
async fn client(args: &AuditArgs) -> anyhow::Result<kube::Client> {
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("cannot use kubeconfig {}", path.display()))?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer()
            .await
            .context("no Kubernetes API: set KUBECONFIG or --kubeconfig, or run in a cluster")?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// A progress line on standard error when it is a terminal and the reads
/// take more than a second: the kind being read and its count so far.
fn progress() -> (collect::Progress, Arc<Mutex<bool>>) {
    let shown = Arc::new(Mutex::new(false));
    if !std::io::stderr().is_terminal() {
        return (Arc::new(|_, _| {}), shown);
    }
    let started = Instant::now();
    let flag = shown.clone();
    (
        Arc::new(move |kind, n| {
            if started.elapsed() < Duration::from_secs(1) {
                return;
            }
            let mut shown = flag.lock().unwrap_or_else(|p| p.into_inner());
            *shown = true;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[Kreading {kind}: {n}");
            let _ = err.flush();
        }),
        shown,
    )
}

/// Runs `audit`: status 0 when clean, 1 with findings (2, from `main`, when
/// the cluster cannot be read).
pub fn run(args: AuditArgs) -> anyhow::Result<u8> {
    let source = ConfigSource {
        file: args.config.clone(),
        talos_files: args.talos_config.clone(),
    };
    let mut config = source.load()?;
    if let Some(level) = args.pod_security_default {
        config.cluster_default_enforce = level;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (progress, shown) = progress();
    let inventory = runtime.block_on(async {
        let client = client(&args).await?;
        anyhow::Ok(collect::collect(client, &config.longhorn_namespace, progress).await?)
    })?;
    if *shown.lock().unwrap_or_else(|p| p.into_inner()) {
        eprint!("\r\x1b[K");
    }
    let findings = audit::audit(&inventory, &config);
    emit(&match args.format {
        AuditFormat::Text => render::text(&findings, &inventory),
        AuditFormat::Json => {
            let read: serde_json::Map<String, serde_json::Value> = inventory
                .counts()
                .into_iter()
                .map(|(k, n)| (k.to_string(), n.into()))
                .collect();
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "findings": findings,
                "read": read,
            }))?;
            text.push('\n');
            text
        }
        AuditFormat::Yaml => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let stamp = report::Timestamp {
                seconds: now.as_secs() as i64,
                nanos: now.subsec_nanos() as i32,
            };
            report::to_yaml(&report::reports(
                &findings,
                &config.longhorn_namespace,
                stamp,
            ))
        }
    })?;
    Ok(audit::exit_status(&findings))
}

/// The background audit's switch, flattened into `serve`'s arguments.
#[derive(clap::Args)]
pub struct BackgroundArgs {
    /// Audit the cluster every this long and write the findings as
    /// PolicyReports (one replica at a time, by a Lease in --namespace):
    /// seconds, or a duration (5m). Off when unset.
    #[arg(long, env = "LTG_AUDIT_INTERVAL", value_parser = duration::seconds)]
    audit_interval: Option<Duration>,
}

impl BackgroundArgs {
    /// Starts the background audit when `--audit-interval` is set; it needs
    /// the Kubernetes API.
    pub fn spawn(
        &self,
        client: Option<&kube::Client>,
        source: &ConfigSource,
        namespace: &str,
        nodes: Option<background::NodeAudit>,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(interval) = self.audit_interval else {
            return Ok(None);
        };
        let client = client.context(
            "--audit-interval needs the Kubernetes API (in-cluster service account or KUBECONFIG, and --kube auto)",
        )?;
        Ok(Some(background::spawn(
            client.clone(),
            source.clone(),
            background::Options {
                interval: interval.max(Duration::from_secs(1)),
                lease_namespace: namespace.to_string(),
                identity: background::identity(),
                nodes,
            },
        )))
    }
}
