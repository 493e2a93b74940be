//! The Longhorn-on-Talos rules: pure functions from a typed admission
//! request, the configuration and pre-fetched cluster facts to structured
//! [`Violation`]s, listed in one [`registry`] and judged by [`evaluate`].
//!
//! Nothing in here performs I/O or reads a clock. The kinds of object the
//! rules read are one table ([`kinds`]); each rule is one file under
//! [`rules`]; modes, exempt users and DELETE/CONNECT are applied once, in
//! [`registry::evaluate`]; every sentence a person reads is made by
//! [`crate::policy::render`].

use json_patch::PatchOperation;

pub mod apiserver;
pub mod disks;
pub mod judgement;
pub mod kinds;
pub mod objects;
pub mod registry;
pub mod render;
pub mod rule;
pub mod rules;
pub mod violation;
pub mod writes;

#[cfg(test)]
mod tests;

pub use judgement::{Decision, Judgement, RuleAnswer, RuleDecision, RuleResult};
pub use kinds::{AnyObject, Kind, Subject};
pub use objects::Str;
pub use registry::{RULES, Rule, evaluate, judge, node_lookup};
pub use violation::{EnforceProblem, PathProblem, Problem, Violation};

/// The operation of an admission request (`request.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// CREATE.
    Create,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// CONNECT (exec, attach, port-forward).
    Connect,
}

impl Operation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Which webhook endpoint is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `/mutate`: may return a patch, never denies.
    Mutate,
    /// `/validate`: may deny or warn, never patches.
    Validate,
}

/// The new and old object of a request, typed. `object` is `None` on DELETE,
/// `old` is `None` on CREATE.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair<T> {
    /// `request.object`.
    pub object: Option<T>,
    /// `request.oldObject`.
    pub old: Option<T>,
}

/// A typed admission request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// `request.name` (may be empty on CREATE with generateName).
    pub name: Str<'a>,
    /// `request.namespace` (empty for cluster-scoped objects).
    pub namespace: Str<'a>,
    /// `request.userInfo.username`.
    pub username: Str<'a>,
    /// The object(s).
    pub subject: Subject<'a>,
}

impl Request<'_> {
    /// The namespace the API server enforces: `request.namespace`, and the
    /// object's own only when the request names none. A review whose object
    /// claims another namespace than the request is judged by the request's.
    pub fn namespace_of<'s>(&'s self, object: Option<&'s str>) -> &'s str {
        if self.namespace.is_empty() {
            object.unwrap_or_default()
        } else {
            &self.namespace
        }
    }

    /// The object's name: `request.name`, and the object's own only when
    /// the request names none (a CREATE with `generateName`).
    pub fn name_of<'s>(&'s self, object: Option<&'s str>) -> &'s str {
        if self.name.is_empty() {
            object.unwrap_or_default()
        } else {
            &self.name
        }
    }
}

/// Hugepages capacity of a Kubernetes node, as looked up before evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hugepages {
    /// `status.allocatable["hugepages-2Mi"]` (or capacity), in bytes; 0 when absent.
    Known(u64),
    /// The look-up failed; the text says why.
    Unknown(String),
}

/// A cluster fact a rule needs before it can judge a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactQuery {
    /// The `hugepages-2Mi` of the Kubernetes node of this name.
    Hugepages(String),
    /// The volumes the Talos node of this (Kubernetes) name reported to the
    /// guard's node reader; never a Talos call on the request path.
    NodeVolumes(String),
}

/// Facts from the cluster, fetched before the rules run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The hugepages of the node named by [`node_lookup`], if it was asked for.
    pub hugepages: Option<Hugepages>,
    /// The volumes of the node named by [`FactQuery::NodeVolumes`], only when
    /// they were read recently enough (the edge drops stale facts): `None`
    /// when not asked, not read, or stale.
    pub node_volumes: Option<crate::host::ReportedVolumes>,
}

/// What the rules decided on one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The denial message, when denied.
    pub denial: Option<String>,
    /// Warnings for kubectl (each under 120 characters).
    pub warnings: Vec<String>,
    /// JSON Patch operations (mutation only).
    pub patch: Vec<PatchOperation>,
    /// The IDs of the rules that denied, in registry order.
    pub denied_by: Vec<&'static str>,
    /// The IDs of the rules that warned or patched, in registry order.
    pub flagged_by: Vec<&'static str>,
}

impl Verdict {
    /// True when the request is allowed.
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}
