//! Reads [`NodeFacts`] from every node through one apid endpoint, in
//! parallel (at most `parallel` nodes at once), each node within `deadline`.
//! A node that cannot be read is a fact about that node, never an abort.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Extension, Fact, Hugepages, Missing, Module, Mount, NodeFacts, Service, Volume};
use crate::talos::api::{CallError, Client};

/// What to read beyond the defaults, and how.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Read the hugepages (V2).
    pub v2: bool,
    /// Read the running machine config (needs `os:admin`).
    pub read_config: bool,
    /// Nodes read at once.
    pub parallel: usize,
    /// The time one node may take, all its calls together.
    pub deadline: Duration,
}

fn missing(e: CallError) -> Missing {
    match e {
        CallError::Refused(m) => Missing::Refused(m),
        CallError::Unsupported(m) => Missing::Unsupported(m),
        other => Missing::Failed(other.to_string()),
    }
}

fn parse<T: DeserializeOwned>(what: &str, yaml: &str) -> Result<T, Missing> {
    serde_saphyr::from_str(yaml).map_err(|e| Missing::Failed(format!("{what}: {e}")))
}

async fn list<T: DeserializeOwned>(
    client: &Client,
    node: &str,
    namespace: &str,
    r#type: &str,
) -> Fact<Vec<(String, T)>> {
    let items = client
        .list(node, namespace, r#type)
        .await
        .map_err(missing)?;
    items
        .into_iter()
        .map(|r| Ok((r.id.clone(), parse::<T>(r#type, &r.yaml)?)))
        .collect()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ExtensionSpec {
    metadata: ExtensionMetadata,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ExtensionMetadata {
    name: String,
    version: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServiceSpec {
    running: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ModuleSpec {
    state: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ParamSpec {
    current: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct VersionSpec {
    version: String,
}

const RUNTIME: &str = "runtime";
const ISCSID: &str = "ext-iscsid";
const MULTIPATHD: &str = "ext-multipathd";

/// Reads one node; `Err` only inside, every failure lands in the facts.
async fn read_node(client: &Client, node: &str, options: &ReadOptions) -> NodeFacts {
    let mut facts = unread(node);
    // talosctl asks MachineService/Version first; it answers on every Talos.
    match client.version(node).await {
        Ok(tag) => facts.version = Ok(tag),
        Err(e) => {
            facts.version = Err(match e {
                CallError::Refused(m) => Missing::Refused(m),
                other => Missing::Failed(other.to_string()),
            });
            return facts;
        }
    }
    // The Versions resource (1.10+) is what talosctl get version prints; the
    // call's tag is the same value, so it is read only when present.
    if let Ok(r) = client
        .get(node, RUNTIME, "Versions.runtime.talos.dev", "version")
        .await
        && let Ok(v) = parse::<VersionSpec>("Versions", &r.yaml)
        && !v.version.is_empty()
    {
        facts.version = Ok(v.version);
    }
    facts.extensions =
        list::<ExtensionSpec>(client, node, RUNTIME, "ExtensionStatuses.runtime.talos.dev")
            .await
            .map(|items| {
                items
                    .into_iter()
                    .map(|(_, s)| Extension {
                        name: s.metadata.name,
                        version: s.metadata.version,
                    })
                    .collect()
            });
    facts.services = list::<ServiceSpec>(client, node, RUNTIME, "Services.v1alpha1.talos.dev")
        .await
        .map(|items| {
            items
                .into_iter()
                .map(|(id, s)| Service {
                    id,
                    running: s.running,
                })
                .collect()
        });
    // A service that is not running has no Service resource; its state
    // machine and last events are in ServiceList.
    if let Ok(services) = &facts.services
        && !services.iter().any(|s| s.id == ISCSID && s.running)
    {
        facts.iscsid = match client.service_list(node).await {
            Ok(list) => list.into_iter().find(|s| s.id == ISCSID).map(Ok),
            Err(e) => Some(Err(missing(e))),
        };
    }
    // Talos writes an ExtensionServiceConfigStatus, named as the
    // ExtensionServiceConfig, for each extension service configuration it
    // wrote out; unlike the config itself it is not sensitive (pkg/machinery
    // resources/runtime/extension_services_config_status.go, v1.14.1).
    if let Ok(services) = &facts.services
        && services.iter().any(|s| s.id == MULTIPATHD && s.running)
    {
        facts.multipath_config = Some(
            match client
                .get(
                    node,
                    RUNTIME,
                    "ExtensionServiceConfigStatuses.runtime.talos.dev",
                    "multipathd",
                )
                .await
            {
                Ok(_) => Ok(true),
                Err(CallError::NotFound(_)) => Ok(false),
                Err(e) => Err(missing(e)),
            },
        );
    }
    // KernelModuleStatuses from Talos 1.14 (built-ins included); before, the
    // loaded modules of /proc/modules.
    let modules = |items: Vec<(String, ModuleSpec)>| -> Vec<Module> {
        items
            .into_iter()
            .map(|(name, s)| Module {
                name,
                state: s.state,
            })
            .collect()
    };
    facts.modules = match list::<ModuleSpec>(
        client,
        node,
        RUNTIME,
        "KernelModuleStatuses.runtime.talos.dev",
    )
    .await
    {
        Err(Missing::Unsupported(_)) => list::<ModuleSpec>(
            client,
            node,
            RUNTIME,
            "LoadedKernelModules.runtime.talos.dev",
        )
        .await
        .map(modules),
        other => other.map(modules),
    };
    if options.v2 {
        facts.hugepages = Some(read_hugepages(client, node).await);
    }
    facts.volumes = list::<Volume>(client, node, RUNTIME, "VolumeStatuses.block.talos.dev")
        .await
        .map(|items| {
            items
                .into_iter()
                .map(|(id, v)| Volume { id, ..v })
                .collect()
        });
    facts.mounts = list::<Mount>(client, node, RUNTIME, "MountStatuses.block.talos.dev")
        .await
        .map(|items| items.into_iter().map(|(id, m)| Mount { id, ..m }).collect());
    if options.read_config {
        facts.machine_config = Some(
            client
                .get(
                    node,
                    "config",
                    "MachineConfigs.config.talos.dev",
                    "v1alpha1",
                )
                .await
                .map(|r| config_text(&r.yaml))
                .map_err(missing),
        );
    }
    facts
}

/// The machine config in a `MachineConfig` spec: from Talos 1.12 the spec is
/// the whole config as one YAML string (a scalar), before the YAML itself
/// (siderolabs/talos pkg/machinery resources/config/machine_config.go,
/// `MarshalYAML`, v1.14.1; TALOS-API.md).
fn config_text(yaml: &str) -> String {
    match serde_saphyr::from_str::<String>(yaml) {
        Ok(text) => text,
        Err(_) => yaml.to_string(),
    }
}

async fn read_hugepages(client: &Client, node: &str) -> Fact<Hugepages> {
    // The sysctl's id is its /proc path with dots: proc.sys.vm.nr_hugepages.
    let asked = match client
        .get(
            node,
            RUNTIME,
            "KernelParamStatuses.runtime.talos.dev",
            "proc.sys.vm.nr_hugepages",
        )
        .await
    {
        Ok(r) => Some(parse::<ParamSpec>("KernelParamStatuses", &r.yaml)?.current),
        Err(CallError::NotFound(_)) => None,
        Err(e) => return Err(missing(e)),
    };
    let memory = client.memory(node).await.map_err(missing)?;
    Ok(Hugepages {
        asked,
        reserved: memory.hugepages_total,
        size_kib: memory.hugepage_size_kib,
    })
}

/// Reads every node, in the order given, at most `options.parallel` at once.
pub async fn read_nodes(
    client: &Client,
    nodes: &[String],
    options: &ReadOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<NodeFacts> {
    let limit = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, node) in nodes.iter().enumerate() {
        let client = client.clone();
        let node = node.clone();
        let options = options.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let facts =
                match tokio::time::timeout(options.deadline, read_node(&client, &node, &options))
                    .await
                {
                    Ok(facts) => facts,
                    Err(_) => NodeFacts {
                        version: Err(Missing::Failed(format!(
                            "unreachable: not read within {:?}",
                            options.deadline
                        ))),
                        ..unread(&node)
                    },
                };
            (index, facts)
        });
    }
    let mut out: Vec<Option<NodeFacts>> = vec![None; nodes.len()];
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, facts)) = joined {
            out[index] = Some(facts);
        }
        done += 1;
        progress(done, nodes.len());
    }
    out.into_iter()
        .zip(nodes)
        .map(|(f, node)| {
            f.unwrap_or_else(|| NodeFacts {
                version: Err(Missing::Failed("the reading task failed".into())),
                ..unread(node)
            })
        })
        .collect()
}

fn no<T>() -> Fact<T> {
    Err(Missing::Failed("not read".into()))
}

fn unread(node: &str) -> NodeFacts {
    NodeFacts {
        node: node.to_string(),
        version: no(),
        extensions: no(),
        services: no(),
        iscsid: None,
        multipath_config: None,
        modules: no(),
        hugepages: None,
        volumes: no(),
        mounts: no(),
        machine_config: None,
    }
}
