//! Facts from the cluster for the policies: the hugepages of a Kubernetes
//! Node, fetched with a bounded timeout and cached briefly.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::base::quantity;
use crate::policy::Hugepages;

/// The node resource Longhorn's V2 engine needs.
pub const HUGEPAGES_RESOURCE: &str = "hugepages-2Mi";

/// Where node facts come from.
pub trait NodeFacts: Send + Sync {
    /// The node's `hugepages-2Mi`, or why it could not be found.
    fn hugepages<'a>(
        &'a self,
        node: &'a str,
    ) -> Pin<Box<dyn Future<Output = Hugepages> + Send + 'a>>;

    /// The volumes the Talos node `node` reported, only when they are fresh
    /// (read from memory: never a Talos call on the request path). `None`
    /// when the guard does not read its nodes, has not read this one, or
    /// read it too long ago.
    fn reported_volumes(&self, _node: &str) -> Option<crate::host::ReportedVolumes> {
        None
    }
}

/// No cluster: every look-up reports why it was not made.
#[derive(Debug, Default)]
pub struct NoCluster;

impl NodeFacts for NoCluster {
    fn hugepages<'a>(
        &'a self,
        _node: &'a str,
    ) -> Pin<Box<dyn Future<Output = Hugepages> + Send + 'a>> {
        Box::pin(async { Hugepages::Unknown("no Kubernetes API configured".into()) })
    }
}

/// Reads Nodes from the API server, with a timeout and a short cache.
pub struct KubeNodes {
    api: Api<Node>,
    timeout: Duration,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, u64)>>,
}

impl KubeNodes {
    /// Look-ups through `client`, each bounded by `timeout` (keep it below the
    /// webhook's `timeoutSeconds`), answers kept for `ttl`.
    pub fn new(client: kube::Client, timeout: Duration, ttl: Duration) -> Self {
        KubeNodes {
            api: Api::all(client),
            timeout,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(&self, name: &str) -> Hugepages {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        if let Some((at, bytes)) = cached
            && at.elapsed() < self.ttl
        {
            return Hugepages::Known(bytes);
        }
        let node = match tokio::time::timeout(self.timeout, self.api.get_opt(name)).await {
            Err(_) => {
                return Hugepages::Unknown(format!(
                    "Node look-up timed out after {}ms",
                    self.timeout.as_millis()
                ));
            }
            Ok(Err(e)) => return Hugepages::Unknown(format!("Node look-up failed: {e}")),
            Ok(Ok(None)) => return Hugepages::Unknown(format!("no Kubernetes Node named {name}")),
            Ok(Ok(Some(node))) => node,
        };
        match node_hugepages(&node) {
            Ok(bytes) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), (Instant::now(), bytes));
                Hugepages::Known(bytes)
            }
            Err(e) => Hugepages::Unknown(e),
        }
    }
}

impl NodeFacts for KubeNodes {
    fn hugepages<'a>(
        &'a self,
        node: &'a str,
    ) -> Pin<Box<dyn Future<Output = Hugepages> + Send + 'a>> {
        Box::pin(self.fetch(node))
    }
}

/// A Node's allocatable `hugepages-2Mi` (capacity when allocatable is not
/// reported), 0 when the node has none.
pub fn node_hugepages(node: &Node) -> Result<u64, String> {
    let status = node.status.as_ref();
    let q = status
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(HUGEPAGES_RESOURCE))
        .or_else(|| {
            status
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get(HUGEPAGES_RESOURCE))
        });
    match q {
        None => Ok(0),
        Some(q) => quantity::parse_bytes(&q.0)
            .map_err(|e| format!("Node reports {HUGEPAGES_RESOURCE} {e}")),
    }
}
