//! `talos preflight`: reads every node through the Talos API and reports what
//! Longhorn's Talos guide needs and the node lacks.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use longhorn_talos_guard::preflight::{self, ReadOptions};
use longhorn_talos_guard::talos::api::{Client, talosconfig};
use longhorn_talos_guard::talos::{self, Finding};

use longhorn_talos_guard::audit::report;
use longhorn_talos_guard::base::longhorn::{DATA_PATH, DEFAULT_DATA_PATH_SETTING};
use longhorn_talos_guard::talos::Severity;

use super::audit::AuditFormat;
use super::emit;
use super::talos::FailOn;

/// Arguments of `talos preflight`.
#[derive(clap::Args)]
pub struct PreflightArgs {
    /// The talosconfig (else $TALOSCONFIG, ~/.talos/config, /var/run/secrets/talos.dev/config).
    #[arg(long, value_name = "FILE")]
    talosconfig: Option<PathBuf>,
    /// The talosconfig context (else its current context).
    #[arg(long)]
    context: Option<String>,
    /// apid endpoints (else the context's); the first that answers is used.
    #[arg(short = 'e', long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// The nodes to read, routed through the endpoint (else the context's
    /// nodes, else the InternalIPs of the Kubernetes Nodes with --kubeconfig).
    #[arg(short = 'n', long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// A kubeconfig: when neither --nodes nor the talosconfig name nodes, read
    /// every Kubernetes Node's InternalIP (as a talosconfig made in a cluster has
    /// no nodes); Longhorn's v2-data-engine setting implies --v2, and its
    /// default-data-path is the default --disk-path.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Check the V2 data engine's prerequisites (modules, hugepages).
    #[arg(long)]
    v2: bool,
    /// A Longhorn disk path to find the volume behind; repeatable (default:
    /// Longhorn's default-data-path setting with --kubeconfig, else /var/lib/longhorn).
    #[arg(long = "disk-path", value_name = "PATH")]
    disk_paths: Vec<String>,
    /// Also lint each node's running machine config (needs the os:admin role).
    #[arg(long)]
    read_config: bool,
    /// The namespace Longhorn is installed in (for --read-config's Pod Security check).
    #[arg(long, default_value = "longhorn-system")]
    longhorn_namespace: String,
    /// Output format (yaml: one ClusterPolicyReport, a result per finding and node).
    #[arg(short = 'o', long, default_value = "text")]
    format: AuditFormat,
    /// Exit 1 on findings of this severity or worse.
    #[arg(long, value_name = "SEVERITY", default_value = "error")]
    fail_on: FailOn,
    /// Nodes read at once.
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// The time one node may take, all its calls together (e.g. 10s).
    #[arg(long, value_parser = super::duration::seconds, default_value = "10s")]
    timeout: Duration,
}

/// Runs `talos preflight`: 0, or 1 on findings (see `--fail-on`); an
/// unusable talosconfig is an error (status 2).
pub fn run(args: PreflightArgs) -> anyhow::Result<u8> {
    let env = |k: &str| std::env::var(k).ok();
    let path = talosconfig::locate(args.talosconfig.as_deref(), &env)?;
    let context = talosconfig::load(&path, args.context.as_deref())?;
    let endpoints = if args.endpoints.is_empty() {
        context.endpoints.clone()
    } else {
        args.endpoints.clone()
    };
    let first = endpoints.first().with_context(|| {
        format!(
            "{}: context {} has no endpoints; give --endpoints",
            path.display(),
            context.name
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let kube = match &args.kubeconfig {
        Some(path) => Some(runtime.block_on(kube_client(path))?),
        None => None,
    };
    let settings = match &kube {
        Some(client) => runtime.block_on(longhorn_settings(client, &args.longhorn_namespace)),
        None => LonghornSettings::default(),
    };
    let v2 = args.v2 || settings.v2;
    let disk_paths = match (&args.disk_paths[..], settings.data_path) {
        ([_, ..], _) => args.disk_paths.clone(),
        ([], Some(path)) => vec![path],
        ([], None) => vec![DATA_PATH.to_string()],
    };
    let nodes = match (&args.nodes[..], &context.nodes[..], &kube) {
        ([_, ..], _, _) => args.nodes.clone(),
        ([], [_, ..], _) => context.nodes.clone(),
        ([], [], Some(client)) => runtime.block_on(kubernetes_nodes(client))?,
        ([], [], None) => anyhow::bail!(
            "{}: context {} has no nodes; give --nodes, or --kubeconfig to read the Kubernetes Nodes' InternalIPs",
            path.display(),
            context.name
        ),
    };
    // The channel spawns its connection task on the runtime.
    let _entered = runtime.enter();
    // The first endpoint that answers, as talosctl fails over between its
    // endpoints; when none does, every node's finding says why.
    let mut client = Client::connect(&context, first, None, args.timeout)?;
    for (i, endpoint) in endpoints.iter().enumerate() {
        let candidate = Client::connect(&context, endpoint, None, args.timeout)?;
        match runtime.block_on(candidate.probe()) {
            Ok(_) => {
                client = candidate;
                break;
            }
            Err(e) if i + 1 < endpoints.len() => {
                eprintln!(
                    "warning: endpoint {endpoint} does not answer ({e}); trying the next one"
                );
            }
            Err(_) => {}
        }
    }
    let read = ReadOptions {
        v2,
        read_config: args.read_config,
        parallel: args.parallel,
        deadline: args.timeout,
    };
    let terminal = std::io::stderr().is_terminal();
    let progress = move |done: usize, total: usize| {
        if terminal {
            eprint!("\rread {done}/{total} nodes");
            if done == total {
                eprintln!();
            }
        }
    };
    let facts = runtime.block_on(preflight::read_nodes(&client, &nodes, &read, &progress));
    let options = preflight::Options {
        v2,
        disk_paths,
        read_config: args.read_config,
        longhorn_namespace: args.longhorn_namespace,
    };
    let reports: Vec<(String, Vec<Finding>)> = facts
        .iter()
        .map(|f| (f.node.clone(), preflight::check(f, &options)))
        .collect();
    let failed = reports
        .iter()
        .flat_map(|(_, findings)| findings)
        .any(|f| args.fail_on.fails(f.severity));
    emit(&match args.format {
        AuditFormat::Text if reports.len() == 1 => talos::render_text(&reports[0].1),
        AuditFormat::Text => reports
            .iter()
            .map(|(node, findings)| format!("==> {node} <==\n{}", talos::render_text(findings)))
            .collect::<Vec<_>>()
            .join("\n"),
        AuditFormat::Json => {
            let mut list = Vec::new();
            for (node, findings) in &reports {
                for finding in findings {
                    let mut value = serde_json::to_value(finding)?;
                    if let Some(object) = value.as_object_mut() {
                        object.insert("node".into(), node.as_str().into());
                    }
                    list.push(value);
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&list)?)
        }
        AuditFormat::Yaml => report::to_yaml(&[policy_report(&reports)]),
    })?;
    Ok(u8::from(failed))
}

async fn kube_client(path: &std::path::Path) -> anyhow::Result<kube::Client> {
    let file = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .with_context(|| format!("cannot use kubeconfig {}", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

/// What Longhorn's settings say about the nodes' needs.
#[derive(Default)]
struct LonghornSettings {
    /// `v2-data-engine` is `true`.
    v2: bool,
    /// `default-data-path`, when set.
    data_path: Option<String>,
}

/// Reads the two settings (`settings.longhorn.io`, top-level `value`); a
/// cluster without Longhorn, or a setting that cannot be read, leaves the
/// defaults with a warning on stderr.
async fn longhorn_settings(client: &kube::Client, namespace: &str) -> LonghornSettings {
    let gvk = kube::api::GroupVersionKind::gvk("longhorn.io", "v1beta2", "Setting");
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, "settings");
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, &resource);
    let value = async |name: &str| match api.get_opt(name).await {
        Ok(setting) => setting.and_then(|s| s.data["value"].as_str().map(str::to_string)),
        // No Longhorn CRDs: kube-apiserver's plain `404 page not found`.
        Err(kube::Error::Api(e)) if e.code == 404 => None,
        Err(e) => {
            eprintln!("warning: cannot read Longhorn's setting {name} in {namespace}: {e}");
            None
        }
    };
    LonghornSettings {
        v2: value("v2-data-engine").await.is_some_and(|v| v == "true"),
        data_path: value(DEFAULT_DATA_PATH_SETTING)
            .await
            .filter(|v| !v.is_empty()),
    }
}

/// The InternalIP of every Kubernetes Node (the first, when a Node has
/// several), in the API's order: what a talosconfig made inside a cluster,
/// which has no nodes, routes to (TALOS-API.md, "Inside the cluster").
async fn kubernetes_nodes(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let list = api
        .list(&Default::default())
        .await
        .context("cannot list the Kubernetes Nodes")?;
    let mut nodes = Vec::new();
    for node in &list.items {
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone());
        match ip {
            Some(ip) => nodes.push(ip),
            None => eprintln!(
                "warning: Kubernetes Node {} has no InternalIP; it is not read",
                node.metadata.name.as_deref().unwrap_or("?")
            ),
        }
    }
    if nodes.is_empty() {
        anyhow::bail!("no Kubernetes Node has an InternalIP to read through the Talos API");
    }
    Ok(nodes)
}

/// The findings as one `ClusterPolicyReport` (the audit's format): a result
/// per finding, its resource the node as addressed. Errors fail, warnings and
/// notes warn, a node that could not be read is `error` (not evaluated) and a
/// skipped check `skip`, the PolicyReport outcomes for those.
fn policy_report(reports: &[(String, Vec<Finding>)]) -> report::Report {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let timestamp = report::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
    };
    let mut out = report::Report {
        api_version: report::API_VERSION.to_string(),
        kind: "ClusterPolicyReport".to_string(),
        metadata: report::Meta {
            name: format!("{}-talos-preflight", report::SOURCE),
            labels: [(
                report::MANAGED_BY.0.to_string(),
                report::MANAGED_BY.1.to_string(),
            )]
            .into(),
            ..report::Meta::default()
        },
        ..report::Report::default()
    };
    for (node, findings) in reports {
        for f in findings {
            let result = match (f.code, f.severity) {
                (preflight::codes::UNREADABLE, _) => "error",
                (preflight::codes::SKIPPED, _) => "skip",
                (_, Severity::Error) => "fail",
                _ => "warn",
            };
            match result {
                "error" => out.summary.error += 1,
                "skip" => out.summary.skip += 1,
                "fail" => out.summary.fail += 1,
                _ => out.summary.warn += 1,
            }
            let mut message = f.message.clone();
            if let Some(fix) = &f.fix {
                message.push_str("\nfix:\n");
                message.push_str(fix);
            }
            out.results.push(report::ReportResult {
                source: report::SOURCE.to_string(),
                policy: f.code.to_string(),
                rule: "talos-preflight".to_string(),
                category: report::CATEGORY.to_string(),
                severity: match f.severity {
                    Severity::Error => "high",
                    Severity::Warning => "medium",
                    Severity::Note => "low",
                }
                .to_string(),
                result: result.to_string(),
                scored: result == "fail",
                message,
                resources: vec![report::Resource {
                    api_version: "v1".to_string(),
                    kind: "Node".to_string(),
                    name: node.clone(),
                    ..report::Resource::default()
                }],
                timestamp,
            });
        }
    }
    out
}
