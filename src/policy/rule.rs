//! The rule interface: what a rule declares (ID, group, default mode, kinds,
//! operations, who it only warns) and what its pure check returns. Rules
//! depend on this module; the registry depends on the rules; nothing here
//! knows either.

use json_patch::PatchOperation;

use super::writes::Writes;
use super::{FactQuery, Facts, Kind, Operation, Phase, Request, Violation};
use crate::base::Mode;
use crate::config::Config;

/// One rule: what it reads, and a pure check.
pub struct Rule {
    /// The stable ID (`LTG-W010`): in denials' audit annotations, logs,
    /// metric labels and the config's `policies:` key.
    pub id: &'static str,
    /// The group whose `policies:` key also sets this rule's mode
    /// (`diskPaths`); an entry for the ID wins.
    pub group: &'static str,
    /// The mode when `policies:` names neither the rule nor (for rules
    /// enforced by default) its group.
    pub default_mode: Mode,
    /// What the rule enforces, in one line.
    pub summary: &'static str,
    /// The endpoint it runs on.
    pub phase: Phase,
    /// The kinds of object it reads.
    pub kinds: &'static [Kind],
    /// The operations it reads.
    pub operations: &'static [Operation],
    /// Users whose requests this rule only warns about, even in `enforce`
    /// mode (the nodes' own requests, Longhorn's own service accounts).
    pub warn_only: fn(&str, &Config) -> bool,
    /// The cluster facts it needs for a request, looked up before [`Rule::check`].
    pub facts: fn(&Request<'_>, &Config, &Writes<'_>) -> Vec<FactQuery>,
    /// The check itself: pure, no I/O. What the request writes (disks, the
    /// settings ConfigMap, a pod's host paths) is read once per review, before
    /// any rule runs, and handed to every rule ([`Writes`]).
    pub check: fn(&Request<'_>, &Config, &Facts, &Writes<'_>) -> Outcome,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.id == other.id
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).finish()
    }
}

/// What one rule found on one request, before modes are applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Problems with what the request changes: deny in `enforce`, warn in `warn`.
    pub violations: Vec<Violation>,
    /// Problems that never deny (already there before, a failed look-up).
    pub warnings: Vec<Violation>,
    /// JSON Patch operations (mutating rules only).
    pub patch: Vec<PatchOperation>,
}

impl Outcome {
    /// Adds a violation where ratcheting puts it: one there before this
    /// request (`preexisting`) only warns, any other follows the rule's mode.
    pub fn add(&mut self, violation: Violation) {
        if violation.preexisting {
            self.warnings.push(violation);
        } else {
            self.violations.push(violation);
        }
    }
}

/// For rules that deny whoever writes.
pub fn nobody(_: &str, _: &Config) -> bool {
    false
}

/// The service accounts of the Longhorn namespace (longhorn-manager and the
/// other Longhorn components): their Setting and Node writes follow from
/// objects a person wrote and the guard judged (the `longhorn-default-setting`
/// ConfigMap, the Node's annotation); a denial there would only crash-loop the
/// manager, so they are warned, never denied.
pub fn longhorn_itself(username: &str, cfg: &Config) -> bool {
    username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(ns, _)| ns == cfg.longhorn_namespace)
}

/// The nodes' own requests (the kubelet registering its node with
/// `--node-labels`), and Longhorn's own service accounts.
pub fn nodes_and_longhorn(username: &str, cfg: &Config) -> bool {
    username.starts_with("system:node:") || longhorn_itself(username, cfg)
}

/// For rules that need no cluster fact.
pub fn no_facts(_: &Request<'_>, _: &Config, _: &Writes<'_>) -> Vec<FactQuery> {
    Vec::new()
}
