//! The Longhorn-on-Talos policies: pure functions from a typed admission
//! request, the configuration and pre-fetched cluster facts to a [`Verdict`].
//!
//! Nothing in here performs I/O or reads a clock. The transport decodes the
//! review into a [`Request`], asks [`node_lookup`] whether a cluster fact is
//! needed, fetches it, and calls [`evaluate`].

use json_patch::PatchOperation;

use crate::config::{Config, Mode};
use objects::Str;

pub mod default_disks;
pub mod disk;
pub mod messages;
pub mod namespace;
pub mod objects;
pub mod paths;
pub mod pod;

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

/// The kinds of object the policies judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 Pod.
    Pod,
    /// `nodes.longhorn.io`.
    LonghornNode,
    /// `settings.longhorn.io`.
    LonghornSetting,
    /// core/v1 Node (Longhorn's default-disks annotation).
    KubeNode,
}

impl Kind {
    /// Maps a request's group and kind to a handled kind (any version: the
    /// fields read are the same in every served version).
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        match (group, kind) {
            ("", "Namespace") => Some(Kind::Namespace),
            ("", "Pod") => Some(Kind::Pod),
            ("longhorn.io", "Node") => Some(Kind::LonghornNode),
            ("longhorn.io", "Setting") => Some(Kind::LonghornSetting),
            ("", "Node") => Some(Kind::KubeNode),
            _ => None,
        }
    }

    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::LonghornNode => "nodes.longhorn.io",
            Kind::LonghornSetting => "settings.longhorn.io",
            Kind::KubeNode => "Node",
        }
    }
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

/// The object under review.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject<'a> {
    /// A Namespace.
    Namespace(Pair<objects::Namespace<'a>>),
    /// A Pod.
    Pod(Pair<objects::Pod<'a>>),
    /// A Longhorn node.
    LonghornNode(Pair<objects::LonghornNode<'a>>),
    /// A Longhorn setting.
    LonghornSetting(Pair<objects::Setting<'a>>),
    /// A Kubernetes node.
    KubeNode(Pair<objects::KubeNode<'a>>),
}

impl Subject<'_> {
    /// The kind of object.
    pub fn kind(&self) -> Kind {
        match self {
            Subject::Namespace(_) => Kind::Namespace,
            Subject::Pod(_) => Kind::Pod,
            Subject::LonghornNode(_) => Kind::LonghornNode,
            Subject::LonghornSetting(_) => Kind::LonghornSetting,
            Subject::KubeNode(_) => Kind::KubeNode,
        }
    }
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

/// Hugepages capacity of a Kubernetes node, as looked up before evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hugepages {
    /// `status.allocatable["hugepages-2Mi"]` (or capacity), in bytes; 0 when absent.
    Known(u64),
    /// The look-up failed; the text says why.
    Unknown(String),
}

/// Facts from the cluster, fetched before a policy runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The hugepages of the node named by [`node_lookup`], if it was asked for.
    pub hugepages: Option<Hugepages>,
}

/// The outcome of evaluating every policy on one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The denial message, when denied.
    pub denial: Option<String>,
    /// Warnings for kubectl (each under 120 characters).
    pub warnings: Vec<String>,
    /// JSON Patch operations (mutation only).
    pub patch: Vec<PatchOperation>,
}

impl Verdict {
    /// True when the request is allowed.
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}

/// One policy's findings on an object, before modes are applied.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Violations on what the request changes, as full sentences.
    pub violations: Vec<String>,
    /// Short forms of the same violations, for warnings in `warn` mode.
    pub short: Vec<String>,
    /// Warnings that never deny (pre-existing problems, failed look-ups).
    pub warnings: Vec<String>,
}

impl Findings {
    /// Applies `mode` and merges into `verdict`; `message` builds the denial
    /// text from the violations.
    pub fn apply(
        self,
        mode: Mode,
        verdict: &mut Verdict,
        message: impl FnOnce(&[String]) -> String,
    ) {
        verdict.warnings.extend(self.warnings);
        if self.violations.is_empty() {
            return;
        }
        match mode {
            Mode::Enforce => {
                let text = message(&self.violations);
                verdict.denial = Some(match verdict.denial.take() {
                    Some(prev) => format!("{prev}\n{text}"),
                    None => text,
                });
            }
            Mode::Warn => verdict.warnings.extend(self.short),
            Mode::Off => {}
        }
    }
}

/// The Kubernetes node whose facts [`evaluate`] needs for `req`, if any.
pub fn node_lookup(req: &Request<'_>, cfg: &Config) -> Option<String> {
    match &req.subject {
        Subject::LonghornNode(pair) if cfg.policies.block_disks != Mode::Off => {
            disk::node_needing_hugepages(req, pair)
        }
        _ => None,
    }
}

/// Evaluates every policy that applies to `req` in `phase`.
pub fn evaluate(phase: Phase, req: &Request<'_>, cfg: &Config, facts: &Facts) -> Verdict {
    let mut verdict = Verdict::default();
    match phase {
        Phase::Mutate => {
            if let Subject::Namespace(pair) = &req.subject {
                namespace::mutate(req, pair, cfg, &mut verdict);
            }
        }
        Phase::Validate => {
            if req.operation == Operation::Delete || req.operation == Operation::Connect {
                return verdict;
            }
            if cfg.is_exempt(&req.username) {
                return verdict;
            }
            match &req.subject {
                Subject::Namespace(pair) => namespace::validate(req, pair, cfg, &mut verdict),
                Subject::LonghornNode(pair) => {
                    disk::validate_node(req, pair, cfg, facts, &mut verdict)
                }
                Subject::LonghornSetting(pair) => {
                    disk::validate_setting(req, pair, cfg, &mut verdict)
                }
                Subject::Pod(pair) => pod::validate(req, pair, cfg, &mut verdict),
                Subject::KubeNode(pair) => default_disks::validate(req, pair, cfg, &mut verdict),
            }
        }
    }
    verdict
}
