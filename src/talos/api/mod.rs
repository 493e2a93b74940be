//! A client of the Talos API (apid, port 50000): mutual TLS with a
//! talosconfig's certificate, the COSI `cosi.resource.State` Get/List and two
//! `machine.MachineService` calls, each routed to one node with the `node`
//! metadata as talosctl does. Only the few messages it needs are written
//! here, from their field numbers (no upstream `.proto` in the repository).

pub mod talosconfig;
mod wire;

use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_prost::ProstCodec;

pub use talosconfig::Context;

/// apid's port (siderolabs/talos `pkg/machinery/constants/constants.go`, `ApidPort`).
pub const APID_PORT: u16 = 50000;

/// Talos's gRPC message limit is 32 MiB (TALOS-API.md); tonic's default is 4 MiB.
const MAX_MESSAGE: usize = 32 << 20;

/// Why one call failed, sorted by what it means for a preflight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The endpoint or the node cannot be reached (gRPC `Unavailable`, a
    /// transport error, or the deadline: `DeadlineExceeded`, or `Cancelled`
    /// when tonic ends the call at its timeout).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The certificate's roles do not allow it (`PermissionDenied`,
    /// `not authorized`).
    #[error("refused: {0}")]
    Refused(String),
    /// This Talos does not have the resource type (`PermissionDenied`,
    /// `resource type "..." is not supported`: siderolabs/talos
    /// `internal/app/resources/access.go`, v1.14.0-rc.1), or the method.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The resource does not exist (`NotFound`).
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<tonic::Status> for CallError {
    fn from(s: tonic::Status) -> Self {
        let message = s.message().to_string();
        match s.code() {
            // tonic cancels a call past its own deadline (`Timeout expired`).
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                CallError::Unreachable(message)
            }
            tonic::Code::PermissionDenied if message.contains("is not supported") => {
                CallError::Unsupported(message)
            }
            tonic::Code::PermissionDenied => CallError::Refused(message),
            tonic::Code::Unimplemented => CallError::Unsupported(message),
            tonic::Code::NotFound => CallError::NotFound(message),
            code => CallError::Other(format!("{code:?}: {message}")),
        }
    }
}

/// Why no connection could be set up (before any call).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The context names no endpoint.
    #[error("context {0} has no endpoints; give --endpoints")]
    NoEndpoint(String),
    /// The endpoint or the TLS material is unusable.
    #[error("endpoint {endpoint}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
}

/// A resource as the COSI API returns it: its id and the YAML of its spec,
/// exactly what `talosctl get -o yaml` prints under `spec:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `metadata.id`.
    pub id: String,
    /// `spec.yaml_spec`.
    pub yaml: String,
}

/// A connection to one apid endpoint; calls name the node they are for.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    timeout: Duration,
}

/// `host` -> `host:50000`; `host:port` and `[v6]:port` stay.
fn with_port(endpoint: &str) -> String {
    let has_port = match endpoint.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        endpoint.to_string()
    } else if endpoint.contains(':') && !endpoint.starts_with('[') {
        format!("[{endpoint}]:{APID_PORT}")
    } else {
        format!("{endpoint}:{APID_PORT}")
    }
}

impl Client {
    /// A lazy connection to `endpoint` with the context's certificate; the
    /// server is verified against the context's CA under `server_name` (the
    /// endpoint's host when `None`; `talos.default` inside a cluster).
    /// Every call has `timeout` as its deadline.
    pub fn connect(
        context: &Context,
        endpoint: &str,
        server_name: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, ConnectError> {
        let address = with_port(endpoint);
        let err = |message: String| ConnectError::Endpoint {
            endpoint: endpoint.to_string(),
            message,
        };
        let host = address
            .rsplit_once(':')
            .map_or(address.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&context.ca_pem))
            .identity(Identity::from_pem(&context.crt_pem, &context.key_pem))
            .domain_name(server_name.unwrap_or(&host));
        let channel = Endpoint::from_shared(format!("https://{address}"))
            .map_err(|e| err(e.to_string()))?
            .tls_config(tls)
            .map_err(|e| err(e.to_string()))?
            .connect_timeout(timeout)
            .http2_adaptive_window(true)
            .connect_lazy();
        Ok(Client { channel, timeout })
    }

    fn request<T>(&self, node: &str, message: T) -> Result<tonic::Request<T>, CallError> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        // No `node`: apid answers itself (director.go's default route).
        if !node.is_empty() {
            let value = node
                .parse()
                .map_err(|_| CallError::Other(format!("{node:?} is not a node name")))?;
            request.metadata_mut().insert("node", value);
        }
        Ok(request)
    }

    async fn unary<Q, R>(&self, node: &str, path: &'static str, message: Q) -> Result<R, CallError>
    where
        Q: prost::Message + Send + Sync + 'static,
        R: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| CallError::Unreachable(transport_text(&e)))?;
        let request = self.request(node, message)?;
        let response = tokio::time::timeout(
            self.timeout,
            grpc.unary(
                request,
                PathAndQuery::from_static(path),
                ProstCodec::<Q, R>::default(),
            ),
        )
        .await
        .map_err(|_| CallError::Unreachable(format!("no answer within {:?}", self.timeout)))??;
        Ok(response.into_inner())
    }

    /// `machine.MachineService/Version`: the node's Talos tag (`v1.14.1`).
    pub async fn version(&self, node: &str) -> Result<String, CallError> {
        let answer: wire::VersionResponse = self
            .unary(node, "/machine.MachineService/Version", wire::Empty {})
            .await?;
        let first = answer.messages.into_iter().next();
        match first {
            Some(m) if m.metadata.as_ref().is_some_and(|md| !md.error.is_empty()) => Err(
                CallError::Other(m.metadata.map(|md| md.error).unwrap_or_default()),
            ),
            Some(m) => Ok(m.version.map(|v| v.tag).unwrap_or_default()),
            None => Err(CallError::Other("empty Version answer".into())),
        }
    }

    /// Whether the endpoint itself answers: its own Talos tag
    /// (`MachineService/Version` without `node`).
    pub async fn probe(&self) -> Result<String, CallError> {
        self.version("").await
    }

    /// `machine.MachineService/Memory`: the kernel's hugepages.
    pub async fn memory(&self, node: &str) -> Result<MemInfo, CallError> {
        let answer: wire::MemoryResponse = self
            .unary(node, "/machine.MachineService/Memory", wire::Empty {})
            .await?;
        let info = answer
            .messages
            .into_iter()
            .next()
            .and_then(|m| m.meminfo)
            .ok_or_else(|| CallError::Other("empty Memory answer".into()))?;
        Ok(MemInfo {
            hugepages_total: info.hugepagestotal,
            hugepages_free: info.hugepagesfree,
            hugepage_size_kib: info.hugepagesize,
        })
    }

    /// `machine.MachineService/ServiceList`: each service's state machine
    /// and its events, oldest first.
    pub async fn service_list(&self, node: &str) -> Result<Vec<ServiceState>, CallError> {
        let answer: wire::ServiceListResponse = self
            .unary(node, "/machine.MachineService/ServiceList", wire::Empty {})
            .await?;
        Ok(answer
            .messages
            .into_iter()
            .flat_map(|m| m.services)
            .map(|s| ServiceState {
                id: s.id,
                state: s.state,
                events: s
                    .events
                    .map(|e| e.events.into_iter().map(|e| (e.state, e.msg)).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// `cosi.resource.State/Get` of one resource.
    pub async fn get(
        &self,
        node: &str,
        namespace: &str,
        r#type: &str,
        id: &str,
    ) -> Result<Resource, CallError> {
        let answer: wire::GetResponse = self
            .unary(
                node,
                "/cosi.resource.State/Get",
                wire::GetRequest {
                    namespace: namespace.into(),
                    r#type: r#type.into(),
                    id: id.into(),
                },
            )
            .await?;
        answer
            .resource
            .map(wire::Resource::into_resource)
            .ok_or_else(|| CallError::Other("empty Get answer".into()))
    }

    /// `cosi.resource.State/List` of one type (a server stream).
    pub async fn list(
        &self,
        node: &str,
        namespace: &str,
        r#type: &str,
    ) -> Result<Vec<Resource>, CallError> {
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| CallError::Unreachable(transport_text(&e)))?;
        let request = self.request(
            node,
            wire::ListRequest {
                namespace: namespace.into(),
                r#type: r#type.into(),
            },
        )?;
        let read = async {
            let mut stream = grpc
                .server_streaming(
                    request,
                    PathAndQuery::from_static("/cosi.resource.State/List"),
                    ProstCodec::<wire::ListRequest, wire::ListResponse>::default(),
                )
                .await?
                .into_inner();
            let mut out = Vec::new();
            while let Some(item) = stream.message().await? {
                if let Some(r) = item.resource {
                    out.push(r.into_resource());
                }
            }
            Ok::<_, tonic::Status>(out)
        };
        Ok(tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| {
                CallError::Unreachable(format!("no answer within {:?}", self.timeout))
            })??)
    }
}

/// A transport error with its causes (tonic's own text is only "transport error").
fn transport_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A service as `MachineService/ServiceList` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// Its id (`ext-iscsid`).
    pub id: String,
    /// Its state (`Running`, `Waiting`, `Failed`, ...).
    pub state: String,
    /// `(state, message)` of each event, oldest first.
    pub events: Vec<(String, String)>,
}

/// The hugepages part of `MachineService/Memory` (`/proc/meminfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    /// `HugePages_Total`: pages the kernel reserved.
    pub hugepages_total: u64,
    /// `HugePages_Free`.
    pub hugepages_free: u64,
    /// `Hugepagesize` in kiB.
    pub hugepage_size_kib: u64,
}
