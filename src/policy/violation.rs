//! What a rule found, as data: the field, the value and what is wrong with
//! it, with everything the message and the fix need. No sentences here:
//! [`crate::policy::render`] writes them.

use crate::base::{AllowedMount, HostPath, Level};

/// One problem a rule found on the object under review.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The field, as a path in the object (`spec.disks.fast.path`).
    pub field: String,
    /// The value found there (empty when the field is absent).
    pub value: String,
    /// What is wrong, with the data the message and the fix need.
    pub problem: Problem,
}

/// What is wrong with a namespace's enforce label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforceProblem {
    /// Set to a valid level other than privileged.
    Level(Level),
    /// Set to something that is not a level.
    Invalid(String),
    /// Absent, and the cluster default is not privileged.
    Absent(Level),
}

/// What is wrong with one Longhorn data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// Not an absolute path (the text says how).
    Invalid(String),
    /// `/` itself.
    Root,
    /// Not inside any of these allowed mounts.
    Outside(Vec<HostPath>),
    /// A block disk path that is neither a device under /dev nor a PCI address.
    NotDevice,
}

/// Where a disk path was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSource {
    /// `spec.disks` of a `nodes.longhorn.io` object.
    LonghornNode,
    /// The default-disks annotation of a Kubernetes node.
    DefaultDisks,
}

/// The kinds of problem, each with the data its message needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The Longhorn namespace would not run privileged.
    NamespaceEnforce {
        /// The namespace.
        namespace: String,
        /// What is wrong with its enforce label.
        problem: EnforceProblem,
    },
    /// An audit or warn level other than privileged: every Longhorn pod will
    /// be reported (a warning, never a denial).
    NamespaceNoisyLabel {
        /// The namespace.
        namespace: String,
        /// `audit` or `warn`.
        mode: &'static str,
        /// The label's value.
        value: String,
    },
    /// A disk path Longhorn cannot use.
    DiskPath {
        /// Where the disk was written.
        source: DiskSource,
        /// The node's name.
        node: String,
        /// The disk's name (or `[i]` for an unnamed default disk).
        disk: String,
        /// The path as written.
        path: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// A bad disk that was there before this request (a warning only).
    DiskPreexisting {
        /// The node's name.
        node: String,
        /// The disk's name.
        disk: String,
        /// The path as written.
        path: String,
    },
    /// A default-disks annotation that is not a JSON list of disks.
    DefaultDisksUnreadable {
        /// The node's name.
        node: String,
        /// The parser's message.
        error: String,
    },
    /// The `default-data-path` setting names an unusable path.
    DataPathSetting {
        /// The setting's name.
        setting: String,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// An unchanged bad `default-data-path` (a warning only).
    DataPathSettingUnchanged {
        /// The setting's name.
        setting: String,
        /// Its value.
        value: String,
    },
    /// A new block disk on a node with too few hugepages.
    Hugepages {
        /// The node's name.
        node: String,
        /// The block disk's name.
        disk: String,
        /// The node's `hugepages-2Mi`, in bytes.
        have: u64,
        /// The configured minimum, in bytes.
        need: u64,
    },
    /// The hugepages of a node could not be looked up (a warning only).
    HugepagesUnknown {
        /// The node's name.
        node: String,
        /// Why.
        why: String,
    },
    /// A pod's host path volume the kubelet on Talos cannot serve safely.
    PodHostPath {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The volume's name.
        volume: String,
        /// The host path as written.
        path: String,
        /// What is wrong.
        problem: PathProblem,
    },
    /// A Bidirectional mount of an allowed mount that is not rshared.
    PodPropagation {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The container.
        container: String,
        /// The volume's name.
        volume: String,
        /// The host path as written.
        path: String,
        /// The allowed mount it lies in.
        mount: AllowedMount,
    },
}
