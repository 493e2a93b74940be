//! `talos preflight`: reads every node through the Talos API and reports what
//! Longhorn's Talos guide needs and the node lacks.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use longhorn_talos_guard::preflight::{self, ReadOptions};
use longhorn_talos_guard::talos::api::{Client, talosconfig};
use longhorn_talos_guard::talos::{self, Finding};

use longhorn_talos_guard::audit::report;
use longhorn_talos_guard::base::gojson;
use longhorn_talos_guard::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL, CREATE_DEFAULT_DISK_LABELED_NODES, DATA_PATH,
    DEFAULT_DATA_PATH_SETTING, DEFAULT_DISKS_ANNOTATION,
};
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
    let kube_nodes = match &kube {
        Some(client) => runtime.block_on(kubernetes_nodes(client)),
        None => Ok(Vec::new()),
    };
    let nodes_named = !args.nodes.is_empty() || !context.nodes.is_empty();
    // With the nodes named, the Kubernetes Nodes only add their Longhorn disks.
    let kube_nodes = match kube_nodes {
        Err(e) if nodes_named => {
            eprintln!("warning: {e:#}; the Longhorn disks of each node are not checked");
            Vec::new()
        }
        other => other?,
    };
    let longhorn_disks = match &kube {
        Some(client) => runtime.block_on(longhorn_node_disks(client, &args.longhorn_namespace)),
        None => BTreeMap::new(),
    };
    let nodes = match (&args.nodes[..], &context.nodes[..], &kube) {
        ([_, ..], _, _) => args.nodes.clone(),
        ([], [_, ..], _) => context.nodes.clone(),
        ([], [], Some(_)) => {
            let mut nodes = Vec::new();
            for node in &kube_nodes {
                match &node.internal_ip {
                    Some(ip) => nodes.push(ip.clone()),
                    None => eprintln!(
                        "warning: Kubernetes Node {} has no InternalIP; it is not read",
                        node.name
                    ),
                }
            }
            if nodes.is_empty() {
                anyhow::bail!("no Kubernetes Node has an InternalIP to read through the Talos API");
            }
            nodes
        }
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
        .map(|f| {
            // Besides the paths every node shares, the disks Longhorn knows
            // on this node only.
            let mut options = options.clone();
            if let Some(kube) = kube_node_of(&kube_nodes, &f.node) {
                for path in node_disk_paths(kube, &longhorn_disks, settings.labeled_nodes) {
                    if !options.disk_paths.contains(&path) {
                        options.disk_paths.push(path);
                    }
                }
            }
            (f.node.clone(), preflight::check(f, &options))
        })
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
    /// `create-default-disk-labeled-nodes` is `true`: Longhorn reads the
    /// default-disks annotation of a Node labelled `create-default-disk=config`.
    labeled_nodes: bool,
}

/// Reads the three settings (`settings.longhorn.io`, top-level `value`); a
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
        labeled_nodes: value(CREATE_DEFAULT_DISK_LABELED_NODES)
            .await
            .is_some_and(|v| v == "true"),
    }
}

/// What the guard reads of a Kubernetes Node.
struct KubeNode {
    /// Its name (the Longhorn Node's too).
    name: String,
    /// Its first InternalIP: what a talosconfig made inside a cluster, which
    /// has no nodes, routes to (TALOS-API.md, "Inside the cluster").
    internal_ip: Option<String>,
    /// Every address in its status.
    addresses: Vec<String>,
    /// The default disks Longhorn reads from its annotation, when its label
    /// asks for them (see [`default_disk_paths`]).
    default_disks: Option<Vec<String>>,
}

/// Every Kubernetes Node, in the API's order.
async fn kubernetes_nodes(client: &kube::Client) -> anyhow::Result<Vec<KubeNode>> {
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let list = api
        .list(&Default::default())
        .await
        .context("cannot list the Kubernetes Nodes")?;
    Ok(list
        .items
        .iter()
        .map(|node| {
            let addresses = node
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .map(|a| a.as_slice())
                .unwrap_or_default();
            let name = node.metadata.name.clone().unwrap_or_default();
            KubeNode {
                internal_ip: addresses
                    .iter()
                    .find(|a| a.type_ == "InternalIP")
                    .map(|a| a.address.clone()),
                addresses: addresses.iter().map(|a| a.address.clone()).collect(),
                default_disks: default_disk_paths(&name, &node.metadata),
                name,
            }
        })
        .collect())
}

/// The paths of the default disks in a Node's
/// `node.longhorn.io/default-disks-config` annotation, when its
/// `node.longhorn.io/create-default-disk` label is `config` (in any case Go's
/// strings.ToLower folds): longhorn-manager reads them only then, and only
/// with the setting create-default-disk-labeled-nodes on and while the
/// Longhorn Node has no disk (`syncDefaultDisks`,
/// controller/kubernetes_node_controller.go, longhorn-manager
/// 138062851538f3902bce0148291fdde195efc838). An annotation Longhorn cannot
/// read gives none (the webhook's LTG-W012 and `talos lint` report it).
fn default_disk_paths(
    node: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Vec<String>> {
    let label = meta.labels.as_ref()?.get(CREATE_DEFAULT_DISK_LABEL)?;
    if !gojson::label_reads_annotation(label) {
        return None;
    }
    let text = meta.annotations.as_ref()?.get(DEFAULT_DISKS_ANNOTATION)?;
    match gojson::default_disks(text) {
        Ok(disks) => Some(
            disks
                .into_iter()
                // A block disk's path is a device, not a folder on a volume.
                .filter(|d| !d.is_block())
                .map(|d| d.path)
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        Err(e) => {
            eprintln!(
                "warning: Kubernetes Node {node}: Longhorn cannot read its annotation {DEFAULT_DISKS_ANNOTATION} ({e}); its default disks are not checked"
            );
            None
        }
    }
}

/// Longhorn's `diskType` of a V2 block device (longhorn-manager
/// k8s/pkg/apis/longhorn/v1beta2 `DiskTypeBlock`).
const BLOCK: &str = "block";

/// The disks of every Longhorn Node (`nodes.longhorn.io`, `spec.disks`), by
/// node name: the paths of its filesystem disks, or `None` when it has no
/// disk at all; nothing when Longhorn is not installed.
async fn longhorn_node_disks(
    client: &kube::Client,
    namespace: &str,
) -> BTreeMap<String, Option<Vec<String>>> {
    let gvk = kube::api::GroupVersionKind::gvk("longhorn.io", "v1beta2", "Node");
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, "nodes");
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, &resource);
    let list = match api.list(&Default::default()).await {
        Ok(list) => list,
        // No Longhorn CRDs: kube-apiserver's plain `404 page not found`.
        Err(kube::Error::Api(e)) if e.code == 404 => return BTreeMap::new(),
        Err(e) => {
            eprintln!(
                "warning: cannot list Longhorn's Nodes in {namespace}: {e}; their disks are not checked"
            );
            return BTreeMap::new();
        }
    };
    list.items
        .into_iter()
        .filter_map(|node| {
            let name = node.metadata.name?;
            let disks = node.data["spec"]["disks"]
                .as_object()
                .filter(|d| !d.is_empty())
                .map(|disks| {
                    let mut paths: Vec<String> = disks
                        .values()
                        // A block disk's path is a device, not a folder on a volume.
                        .filter(|d| d["diskType"].as_str() != Some(BLOCK))
                        .filter_map(|d| d["path"].as_str())
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect();
                    paths.sort();
                    paths
                });
            Some((name, disks))
        })
        .collect()
}

/// The disk paths Longhorn uses on the Kubernetes Node `kube`: its Longhorn
/// Node's filesystem disks, else (no disk at all yet, the setting on) the
/// default disks of its annotation.
fn node_disk_paths(
    kube: &KubeNode,
    longhorn: &BTreeMap<String, Option<Vec<String>>>,
    labeled_nodes: bool,
) -> Vec<String> {
    match longhorn.get(&kube.name) {
        Some(Some(paths)) => paths.clone(),
        _ if labeled_nodes => kube.default_disks.clone().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The Kubernetes Node a Talos node address names: by name or by any of its addresses.
fn kube_node_of<'k>(nodes: &'k [KubeNode], address: &str) -> Option<&'k KubeNode> {
    nodes
        .iter()
        .find(|n| n.name == address || n.addresses.iter().any(|a| a == address))
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
