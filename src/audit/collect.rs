//! Reads what the audit judges, read-only: paginated lists of each kind
//! (bounded page size), a few kinds at a time, with a progress callback.

use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::finding::Inventory;

/// Objects per page of a list.
pub const PAGE_SIZE: u32 = 500;

/// Lists running at once.
pub const CONCURRENCY: usize = 4;

/// The cluster could not be read (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("cannot {what}")]
pub struct ReadError {
    /// What was being read (`list pods in longhorn-system`).
    pub what: String,
    /// The API error (its causes follow it in the message's chain).
    #[source]
    pub error: kube::Error,
}

/// Called with a kind and the number of its objects read so far.
pub type Progress = Arc<dyn Fn(&'static str, usize) + Send + Sync>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    LonghornNodes,
    Settings,
    ConfigMaps,
    Pods,
    Controllers,
    KubeNodes,
}

struct Target {
    slot: Slot,
    label: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
}

const TARGETS: [Target; 11] = [
    Target {
        slot: Slot::LonghornNodes,
        label: "nodes.longhorn.io",
        group: "longhorn.io",
        version: "v1beta2",
        kind: "Node",
        plural: "nodes",
        namespaced: true,
    },
    Target {
        slot: Slot::Settings,
        label: "settings.longhorn.io",
        group: "longhorn.io",
        version: "v1beta2",
        kind: "Setting",
        plural: "settings",
        namespaced: true,
    },
    Target {
        slot: Slot::ConfigMaps,
        label: "configmaps",
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        namespaced: true,
    },
    Target {
        slot: Slot::Pods,
        label: "pods",
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "daemonsets",
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        plural: "daemonsets",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "deployments",
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "statefulsets",
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "replicasets",
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "jobs",
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        namespaced: true,
    },
    Target {
        slot: Slot::Controllers,
        label: "cronjobs",
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        namespaced: true,
    },
    Target {
        slot: Slot::KubeNodes,
        label: "nodes",
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        namespaced: false,
    },
];

impl Target {
    fn resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version,
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Lists every object of `api`, page by page; `None` when the kind is not
/// served (Longhorn's CRDs not installed).
async fn list_all(
    api: Api<DynamicObject>,
    resource: &ApiResource,
    label: &'static str,
    progress: &Progress,
) -> Result<Option<Vec<Value>>, kube::Error> {
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = match api.list(&params).await {
            Ok(page) => page,
            Err(e) if is_not_found(&e) && out.is_empty() => return Ok(None),
            Err(e) => return Err(e),
        };
        for item in page.items {
            let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("apiVersion".into(), resource.api_version.clone().into());
                map.insert("kind".into(), resource.kind.clone().into());
            }
            out.push(value);
        }
        progress(label, out.len());
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(Some(out))
}

/// Reads the inventory of `namespace` (the Longhorn namespace) and the
/// cluster's Nodes.
pub async fn collect(
    client: kube::Client,
    namespace: &str,
    progress: Progress,
) -> Result<Inventory, ReadError> {
    let mut inventory = Inventory::default();
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
        },
    );
    inventory.namespace = namespaces
        .get_opt(namespace)
        .await
        .map_err(|error| ReadError {
            what: format!("get namespace {namespace}"),
            error,
        })?
        .map(|ns| {
            let mut value = serde_json::to_value(ns).unwrap_or(Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("apiVersion".into(), "v1".into());
                map.insert("kind".into(), "Namespace".into());
            }
            value
        });

    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (i, target) in TARGETS.iter().enumerate() {
        let resource = target.resource();
        let api: Api<DynamicObject> = if target.namespaced {
            Api::namespaced_with(client.clone(), namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let limit = limit.clone();
        let progress = progress.clone();
        let label = target.label;
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (i, list_all(api, &resource, label, &progress).await)
        });
    }
    let mut lists: Vec<Option<Vec<Value>>> = vec![None; TARGETS.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => continue,
        };
        let target = &TARGETS[i];
        let items = result.map_err(|error| ReadError {
            what: if target.namespaced {
                format!("list {} in {namespace}", target.label)
            } else {
                format!("list {}", target.label)
            },
            error,
        })?;
        lists[i] = items;
    }
    for (target, items) in TARGETS.iter().zip(lists) {
        let items = items.unwrap_or_default();
        let slot = match target.slot {
            Slot::LonghornNodes => &mut inventory.longhorn_nodes,
            Slot::Settings => &mut inventory.settings,
            Slot::ConfigMaps => &mut inventory.configmaps,
            Slot::Pods => &mut inventory.pods,
            Slot::Controllers => &mut inventory.controllers,
            Slot::KubeNodes => &mut inventory.kube_nodes,
        };
        slot.extend(items);
    }
    Ok(inventory)
}
