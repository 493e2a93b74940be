//! The protobuf messages of the Talos API this client uses, written from
//! their field numbers: `cosi.resource` (cosi-project/specification
//! `proto/v1alpha1/{resource,state}.proto`, as TALOS-API.md lists them) and
//! `machine` / `common` (siderolabs/talos `api/machine/machine.proto`,
//! `api/common/common.proto`, v1.14.1). Fields the client does not read are
//! left out; protobuf skips them.

use super::Resource as Plain;

/// `google.protobuf.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `cosi.resource.GetRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRequest {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(string, tag = "3")]
    pub id: String,
}

/// `cosi.resource.GetResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetResponse {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
}

/// `cosi.resource.ListRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListRequest {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
}

/// `cosi.resource.ListResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListResponse {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
}

/// `cosi.resource.Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<Metadata>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<Spec>,
}

impl Resource {
    pub fn into_resource(self) -> Plain {
        Plain {
            id: self.metadata.map(|m| m.id).unwrap_or_default(),
            yaml: self.spec.map(|s| s.yaml_spec).unwrap_or_default(),
        }
    }
}

/// `cosi.resource.Metadata` (namespace, type, id).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(string, tag = "3")]
    pub id: String,
}

/// `cosi.resource.Spec`: `proto_spec = 1` is skipped, `yaml_spec = 2` read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Spec {
    #[prost(string, tag = "2")]
    pub yaml_spec: String,
}

/// `common.Metadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CommonMetadata {
    #[prost(string, tag = "1")]
    pub hostname: String,
    #[prost(string, tag = "2")]
    pub error: String,
}

/// `machine.VersionResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<Version>,
}

/// `machine.Version`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<CommonMetadata>,
    #[prost(message, optional, tag = "2")]
    pub version: Option<VersionInfo>,
}

/// `machine.VersionInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionInfo {
    #[prost(string, tag = "1")]
    pub tag: String,
}

/// `machine.MemoryResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryResponse {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<Memory>,
}

/// `machine.Memory`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Memory {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<CommonMetadata>,
    #[prost(message, optional, tag = "2")]
    pub meminfo: Option<MemInfo>,
}

/// `machine.MemInfo` (hugepages fields).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemInfo {
    #[prost(uint64, tag = "41")]
    pub hugepagestotal: u64,
    #[prost(uint64, tag = "42")]
    pub hugepagesfree: u64,
    #[prost(uint64, tag = "45")]
    pub hugepagesize: u64,
}

/// `machine.ServiceListResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceListResponse {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<ServiceList>,
}

/// `machine.ServiceList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceList {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<CommonMetadata>,
    #[prost(message, repeated, tag = "2")]
    pub services: Vec<ServiceInfo>,
}

/// `machine.ServiceInfo` (id, state, events).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceInfo {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub state: String,
    #[prost(message, optional, tag = "3")]
    pub events: Option<ServiceEvents>,
}

/// `machine.ServiceEvents`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceEvents {
    #[prost(message, repeated, tag = "1")]
    pub events: Vec<ServiceEvent>,
}

/// `machine.ServiceEvent` (msg, state).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceEvent {
    #[prost(string, tag = "1")]
    pub msg: String,
    #[prost(string, tag = "2")]
    pub state: String,
}
