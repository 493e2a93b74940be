//! The nodes themselves, inside the cluster (`serve --read-nodes`): every
//! replica reads each Kubernetes Node through the Talos API with the
//! talosconfig a `talos.dev` ServiceAccount's Secret holds (reloaded when Talos
//! renews it, the last good one kept when a renewal is unusable), and keeps
//! the facts in memory. Admission reads only fresh ones ([`NodeStore`]); the
//! background audit turns them into `talos preflight`'s findings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use super::finding::{Finding, ObjectRef, Outcome, Severity};
use crate::base::longhorn::{DATA_PATH, DEFAULT_DATA_PATH_SETTING};
use crate::cluster::NodeFacts as NodeLookups;
use crate::host::ReportedVolumes;
use crate::policy::Hugepages;
use crate::preflight::{self, NodeFacts, ReadOptions};
use crate::talos::api::{Client, talosconfig};
use crate::talos::{self, Severity as TalosSeverity};

/// The `talos.dev` ServiceAccount the chart and the kustomize component ship
/// (its Secret has the same name).
pub const SERVICE_ACCOUNT: &str = "longhorn-talos-guard-talos-api";

/// Reloads of the talosconfig, by result (`renewed`, `error`).
pub const RELOADS: &str = "ltg_talosconfig_reloads_total";
/// 1 when the talosconfig file as it is now is usable, 0 when the guard is
/// on the last good one (or has none).
pub const CONFIG_OK: &str = "ltg_talosconfig_ok";
/// Unix time of the last round that read the nodes.
pub const LAST_READ: &str = "ltg_node_read_last_timestamp_seconds";
/// Nodes of the last round, by result (`read`, `unreadable`).
pub const NODES: &str = "ltg_node_read_nodes";

/// The talosconfig of a `talos.dev` ServiceAccount's Secret, re-read at every
/// round: a changed file that parses becomes the client; one that does not
/// leaves the last good one in use.
pub struct TalosAccess {
    path: PathBuf,
    timeout: Duration,
    last: Mutex<Option<(String, Client)>>,
}

/// The state of the talosconfig after a [`TalosAccess::refresh`].
pub enum Access {
    /// The file as it is now is in use.
    Current(Client),
    /// The file is unusable; the last good one is in use. The text says why.
    LastGood(Client, String),
    /// The file is unusable and there was never a good one.
    None(String),
}

impl TalosAccess {
    /// Reads `path` at each refresh; calls have `timeout` as their deadline.
    pub fn new(path: PathBuf, timeout: Duration) -> TalosAccess {
        TalosAccess {
            path,
            timeout,
            last: Mutex::new(None),
        }
    }

    /// The file read by this access.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn load(&self, text: &str) -> Result<Client, String> {
        let context = talosconfig::parse(&self.path, text, None).map_err(|e| e.to_string())?;
        let endpoint = context.endpoints.first().ok_or_else(|| {
            format!(
                "{}: context {} has no endpoints",
                self.path.display(),
                context.name
            )
        })?;
        // The in-cluster endpoint is `talos.default`; its certificate carries
        // that name (TALOS-API.md, "Inside the cluster").
        Client::connect(&context, endpoint, None, self.timeout).map_err(|e| e.to_string())
    }

    /// Re-reads the file: a changed, usable file replaces the client (a
    /// renewal); an unusable one keeps the last good client, says so in the
    /// log and in [`CONFIG_OK`]. Must run inside a Tokio runtime.
    pub fn refresh(&self) -> Access {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read the talosconfig {}: {e}", self.path.display()))
            .and_then(|text| match last.as_ref() {
                Some((same, client)) if *same == text => Ok((client.clone(), false)),
                _ => self.load(&text).map(|client| {
                    let renewed = last.is_some();
                    *last = Some((text, client.clone()));
                    (client, renewed)
                }),
            });
        match loaded {
            Ok((client, renewed)) => {
                if renewed {
                    tracing::info!(path = %self.path.display(), "talosconfig renewed: using the new certificate");
                    metrics::counter!(RELOADS, "result" => "renewed").increment(1);
                }
                metrics::gauge!(CONFIG_OK).set(1.0);
                Access::Current(client)
            }
            Err(why) => {
                metrics::gauge!(CONFIG_OK).set(0.0);
                metrics::counter!(RELOADS, "result" => "error").increment(1);
                match last.as_ref() {
                    Some((_, client)) => {
                        tracing::warn!(error = %why, "talosconfig unusable: keeping the last good one");
                        Access::LastGood(client.clone(), why)
                    }
                    None => {
                        tracing::warn!(error = %why, "no usable talosconfig: the nodes are not read");
                        Access::None(why)
                    }
                }
            }
        }
    }
}

/// Facts of one node as read at one time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When they were read.
    pub read_at: Instant,
    /// The facts (their `node` is the address the call was routed to).
    pub facts: NodeFacts,
}

/// The last facts of every node, by Kubernetes Node name, and how old they
/// may be to count (the freshness bound).
pub struct NodeStore {
    max_age: Duration,
    nodes: RwLock<BTreeMap<String, Snapshot>>,
    /// Why the last round read nothing, if it did not.
    trouble: RwLock<Option<String>>,
}

impl NodeStore {
    /// A store whose facts count for `max_age` after they were read.
    pub fn new(max_age: Duration) -> NodeStore {
        NodeStore {
            max_age,
            nodes: RwLock::new(BTreeMap::new()),
            trouble: RwLock::new(None),
        }
    }

    /// Replaces the facts of every node with one round's (a node gone from
    /// the cluster goes from the store).
    pub fn replace(&self, round: BTreeMap<String, Snapshot>) {
        *self.nodes.write().unwrap_or_else(|p| p.into_inner()) = round;
    }

    /// Records why the last round could not read the nodes (`None`: it could).
    pub fn set_trouble(&self, why: Option<String>) {
        *self.trouble.write().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Why the last round could not read the nodes, if it could not.
    pub fn trouble(&self) -> Option<String> {
        self.trouble
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The facts read within the bound at `now`, by Kubernetes Node name.
    pub fn fresh(&self, now: Instant) -> BTreeMap<String, NodeFacts> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.read_at) <= self.max_age)
            .map(|(name, s)| (name.clone(), s.facts.clone()))
            .collect()
    }

    /// The volumes and mounts `node` reported, when read within the bound at
    /// `now` and both were read.
    pub fn volumes(&self, node: &str, now: Instant) -> Option<ReportedVolumes> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        let s = nodes.get(node)?;
        if now.saturating_duration_since(s.read_at) > self.max_age {
            return None;
        }
        let (Ok(volumes), Ok(mounts)) = (&s.facts.volumes, &s.facts.mounts) else {
            return None;
        };
        Some(ReportedVolumes {
            volumes: volumes
                .iter()
                .map(|v| (v.id.clone(), v.phase.clone(), v.kind.clone()))
                .collect(),
            mounts: mounts
                .iter()
                .map(|m| (m.id.clone(), m.target.clone()))
                .collect(),
        })
    }
}

/// The webhook's look-ups with the nodes' reported volumes added from the
/// store (memory only).
pub struct WithReports {
    /// The Kubernetes look-ups (hugepages).
    pub inner: Arc<dyn NodeLookups>,
    /// The nodes' facts.
    pub store: Arc<NodeStore>,
}

impl NodeLookups for WithReports {
    fn hugepages<'a>(
        &'a self,
        node: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Hugepages> + Send + 'a>> {
        self.inner.hugepages(node)
    }

    fn reported_volumes(&self, node: &str) -> Option<ReportedVolumes> {
        self.store.volumes(node, Instant::now())
    }
}

/// `(name, InternalIP)` of every Kubernetes Node that has one; the in-cluster
/// talosconfig has no nodes, so calls are routed to these addresses.
pub fn addresses(nodes: &[Node]) -> Vec<(String, String)> {
    nodes
        .iter()
        .filter_map(|n| {
            let ip = n
                .status
                .as_ref()?
                .addresses
                .as_ref()?
                .iter()
                .find(|a| a.type_ == "InternalIP")?
                .address
                .clone();
            Some((n.metadata.name.clone()?, ip))
        })
        .collect()
}

/// What the reader needs.
#[derive(Clone)]
pub struct ReaderOptions {
    /// Time between rounds.
    pub interval: Duration,
    /// Nodes read at once.
    pub parallel: usize,
    /// The time one node may take.
    pub deadline: Duration,
}

/// One round: refresh the talosconfig, list the Nodes, read each one.
pub async fn read_round(
    client: &kube::Client,
    access: &TalosAccess,
    store: &NodeStore,
    opts: &ReaderOptions,
) {
    let talos = match access.refresh() {
        Access::Current(c) | Access::LastGood(c, _) => c,
        Access::None(why) => {
            store.set_trouble(Some(why));
            return;
        }
    };
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    let nodes = match api.list(&Default::default()).await {
        Ok(list) => addresses(&list.items),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the Kubernetes Nodes to read them");
            return;
        }
    };
    let read = ReadOptions {
        // Hugepages are read always: whether V2 is on is Longhorn's setting,
        // which the audit judges against.
        v2: true,
        read_config: false,
        parallel: opts.parallel,
        deadline: opts.deadline,
    };
    let ips: Vec<String> = nodes.iter().map(|(_, ip)| ip.clone()).collect();
    let quiet = |_: usize, _: usize| {};
    let facts = preflight::read_nodes(&talos, &ips, &read, &quiet).await;
    let now = Instant::now();
    let readable = facts.iter().filter(|f| f.version.is_ok()).count();
    metrics::gauge!(NODES, "result" => "read").set(readable as f64);
    metrics::gauge!(NODES, "result" => "unreadable").set((facts.len() - readable) as f64);
    metrics::gauge!(LAST_READ).set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    );
    store.replace(
        nodes
            .into_iter()
            .zip(facts)
            .map(|((name, _), facts)| {
                (
                    name,
                    Snapshot {
                        read_at: now,
                        facts,
                    },
                )
            })
            .collect(),
    );
    store.set_trouble(None);
}

/// Reads the nodes every `opts.interval` until the task is dropped.
pub fn spawn_reader(
    client: kube::Client,
    access: Arc<TalosAccess>,
    store: Arc<NodeStore>,
    opts: ReaderOptions,
) -> tokio::task::JoinHandle<()> {
    if crate::metrics::handle().is_some() {
        metrics::describe_counter!(RELOADS, "Reloads of the talosconfig, by result.");
        metrics::describe_gauge!(
            CONFIG_OK,
            "1 when the talosconfig file is usable, 0 when the last good one (or none) is in use."
        );
        metrics::describe_gauge!(
            LAST_READ,
            metrics::Unit::Seconds,
            "Unix time of the last round that read the nodes through the Talos API."
        );
        metrics::describe_gauge!(NODES, "Nodes of the last round, by result.");
    }
    tracing::info!(interval = ?opts.interval, talosconfig = %access.path().display(), "node reading on");
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(opts.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            read_round(&client, &access, &store, &opts).await;
        }
    })
}

/// The disk paths of a node for the preflight: the filesystem disks of its
/// Longhorn Node, else Longhorn's `default-data-path` setting, else
/// `/var/lib/longhorn`.
fn disk_paths(node: &str, longhorn_nodes: &[Value], settings: &[Value]) -> Vec<String> {
    let mut paths: Vec<String> = longhorn_nodes
        .iter()
        .filter(|n| n["metadata"]["name"] == node)
        .flat_map(|n| n["spec"]["disks"].as_object().into_iter().flatten())
        .filter(|(_, d)| matches!(d["diskType"].as_str(), None | Some("" | "filesystem")))
        .filter_map(|(_, d)| d["path"].as_str().map(str::to_string))
        .collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        paths.push(
            setting(settings, DEFAULT_DATA_PATH_SETTING).unwrap_or_else(|| DATA_PATH.to_string()),
        );
    }
    paths
}

fn setting(settings: &[Value], name: &str) -> Option<String> {
    settings
        .iter()
        .find(|s| s["metadata"]["name"] == name)
        .and_then(|s| s["value"].as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A `talos preflight` finding as an audit finding about `object`: its
/// message and fix as `talos preflight -o yaml` writes them; an error fails
/// (high), a warning and a note warn (medium, low).
pub fn audit_finding(object: &ObjectRef, f: &talos::Finding) -> Finding {
    let mut message = f.message.clone();
    if let Some(fix) = &f.fix {
        message.push_str("\nfix:\n");
        message.push_str(fix);
    }
    let (result, severity) = match f.severity {
        TalosSeverity::Error => (Outcome::Fail, Severity::High),
        TalosSeverity::Warning => (Outcome::Warn, Severity::Medium),
        TalosSeverity::Note => (Outcome::Warn, Severity::Low),
    };
    Finding {
        policy: f.code,
        rule: "talos-preflight",
        result,
        severity,
        object: object.clone(),
        message,
    }
}

/// The preflight findings of every node with fresh facts, each about its
/// Kubernetes Node; V2 when Longhorn's `v2-data-engine` setting is `true`.
pub fn node_findings(
    facts: &BTreeMap<String, NodeFacts>,
    longhorn_nodes: &[Value],
    settings: &[Value],
    longhorn_namespace: &str,
) -> Vec<Finding> {
    let v2 = setting(settings, "v2-data-engine").is_some_and(|v| v == "true");
    let mut out = Vec::new();
    for (name, node) in facts {
        let options = preflight::Options {
            v2,
            disk_paths: disk_paths(name, longhorn_nodes, settings),
            read_config: false,
            longhorn_namespace: longhorn_namespace.to_string(),
        };
        let object = ObjectRef {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: None,
            name: name.clone(),
            uid: None,
        };
        out.extend(
            preflight::check(node, &options)
                .iter()
                .map(|f| audit_finding(&object, f)),
        );
    }
    out
}

/// The `talos.dev/v1alpha1` ServiceAccount whose Secret the guard reads, and
/// what Talos wrote into its status (`status.failureReason`: siderolabs/talos
/// `internal/app/machined/pkg/controllers/kubeaccess/serviceaccount/crd_controller.go`,
/// `updateTalosSAStatus`, v1.14.0-rc.1), as a finding with the control-plane
/// patch; `None` when Talos reports nothing wrong. `account` is the object as
/// read, `None` when it (or its CRD) does not exist.
pub fn service_account_finding(
    namespace: &str,
    name: &str,
    account: Option<&Value>,
    trouble: Option<&str>,
) -> Option<Finding> {
    let object = ObjectRef {
        api_version: "talos.dev/v1alpha1".into(),
        kind: "ServiceAccount".into(),
        namespace: Some(namespace.into()),
        name: name.into(),
        uid: account.and_then(|a| a["metadata"]["uid"].as_str().map(str::to_string)),
    };
    let f = match account {
        None => preflight::account_missing(namespace, name, trouble),
        Some(a) => {
            let reason = a["status"]["failureReason"].as_str().unwrap_or_default();
            if reason.is_empty() {
                return trouble.map(|why| {
                    audit_finding(&object, &preflight::no_talosconfig(namespace, name, why))
                });
            }
            preflight::account_refused(namespace, name, reason)
        }
    };
    Some(audit_finding(&object, &f))
}

/// Reads the ServiceAccount (`None` when it or the talos.dev CRD is absent).
pub async fn read_service_account(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, kube::Error> {
    let resource = kube::api::ApiResource {
        group: "talos.dev".into(),
        version: "v1alpha1".into(),
        api_version: "talos.dev/v1alpha1".into(),
        kind: "ServiceAccount".into(),
        plural: "serviceaccounts".into(),
    };
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, &resource);
    match api.get_opt(name).await {
        Ok(found) => Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))),
        // No CRD: kube-apiserver's plain 404.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::{Missing, Mount, Volume};

    fn facts(volumes: Vec<Volume>, mounts: Vec<Mount>) -> NodeFacts {
        NodeFacts {
            node: "10.5.0.2".into(),
            version: Ok("v1.14.1".into()),
            extensions: Err(Missing::Failed("not read".into())),
            services: Err(Missing::Failed("not read".into())),
            iscsid: None,
            modules: Err(Missing::Failed("not read".into())),
            hugepages: None,
            volumes: Ok(volumes),
            mounts: Ok(mounts),
            machine_config: None,
            multipath_config: None,
        }
    }

    #[test]
    fn facts_count_within_the_bound_only() {
        let store = NodeStore::new(Duration::from_secs(600));
        let t0 = Instant::now();
        let volume = Volume {
            id: "u-longhorn".into(),
            phase: "ready".into(),
            kind: "partition".into(),
            ..Volume::default()
        };
        let mount = Mount {
            id: "u-longhorn".into(),
            target: "/var/mnt/longhorn".into(),
            ..Mount::default()
        };
        store.replace(BTreeMap::from([(
            "talos-w1".to_string(),
            Snapshot {
                read_at: t0,
                facts: facts(vec![volume], vec![mount]),
            },
        )]));
        let fresh = store.volumes("talos-w1", t0 + Duration::from_secs(600));
        assert_eq!(
            fresh.map(|v| v.behind("longhorn")),
            Some(crate::host::Behind::OwnVolume)
        );
        assert_eq!(
            store.volumes("talos-w1", t0 + Duration::from_secs(601)),
            None
        );
        assert_eq!(store.volumes("talos-w2", t0), None);
        assert!(store.fresh(t0 + Duration::from_secs(601)).is_empty());
        assert_eq!(store.fresh(t0).len(), 1);
    }

    /// A talosconfig whose context `default` holds a certificate of
    /// [`crate::certs::generate`] (any CA: the channel is lazy, no call made).
    fn talosconfig(endpoint: &str) -> String {
        use base64::Engine as _;
        let made = crate::certs::generate(&["localhost".into()], 1, 1).expect("certificates");
        let b = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
        format!(
            "context: default\ncontexts:\n  default:\n    endpoints: [{endpoint}]\n    ca: {}\n    crt: {}\n    key: {}\n",
            b(&made.ca_pem),
            b(&made.cert_pem),
            b(&made.key_pem)
        )
    }

    #[tokio::test]
    async fn a_renewed_talosconfig_replaces_the_client_and_a_bad_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config");
        let access = TalosAccess::new(path.clone(), Duration::from_secs(1));
        // Nothing mounted yet (no Secret): no client, and why.
        match access.refresh() {
            Access::None(why) => assert!(why.contains("cannot read the talosconfig"), "{why}"),
            _ => panic!("a client without a file"),
        }
        std::fs::write(&path, talosconfig("talos.default")).expect("write");
        assert!(matches!(access.refresh(), Access::Current(_)));
        // A renewal that is not a talosconfig: the last good one, and why.
        std::fs::write(&path, "contexts: [not, a, map]\n").expect("write");
        match access.refresh() {
            Access::LastGood(_, why) => assert!(why.contains("is not a talosconfig"), "{why}"),
            _ => panic!("the bad renewal was not kept out"),
        }
        // A good renewal (another certificate) is used.
        std::fs::write(&path, talosconfig("talos.default:50000")).expect("write");
        assert!(matches!(access.refresh(), Access::Current(_)));
        let last = access.last.lock().unwrap();
        assert!(last.as_ref().unwrap().0.contains("talos.default:50000"));
    }

    #[test]
    fn disk_paths_come_from_the_longhorn_node_then_the_setting() {
        let lh = serde_json::json!({"metadata": {"name": "w1"}, "spec": {"disks": {
            "a": {"path": "/var/mnt/longhorn"},
            "b": {"path": "0000:00:1e.0", "diskType": "block"}}}});
        let set = serde_json::json!({"metadata": {"name": DEFAULT_DATA_PATH_SETTING}, "value": "/var/mnt/data"});
        assert_eq!(
            disk_paths("w1", std::slice::from_ref(&lh), &[]),
            ["/var/mnt/longhorn"]
        );
        assert_eq!(disk_paths("w2", &[lh], &[set]), ["/var/mnt/data"]);
        assert_eq!(disk_paths("w2", &[], &[]), [DATA_PATH]);
    }
}
