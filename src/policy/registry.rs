//! The registry: every rule with its stable ID, and the one place where
//! modes, exempt users, operations and kinds decide whether a rule runs and
//! what its violations do (deny, warn or nothing).
//!
//! Adding a rule: write its file under [`super::rules`] and add one line to
//! [`RULES`].

use json_patch::PatchOperation;

use super::judgement::{Judgement, RuleResult};
use super::rules;
use super::{FactQuery, Facts, Kind, Operation, Phase, Request, Verdict, Violation};
use crate::base::Mode;
use crate::config::{Config, ConfigError, ConfigFile, RuleKey};

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
    pub facts: fn(&Request<'_>, &Config) -> Vec<FactQuery>,
    /// The check itself: pure, no I/O.
    pub check: fn(&Request<'_>, &Config, &Facts) -> Outcome,
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
pub fn no_facts(_: &Request<'_>, _: &Config) -> Vec<FactQuery> {
    Vec::new()
}

/// Every rule, in evaluation order.
pub static RULES: &[&Rule] = &[
    &rules::namespace_labels::RULE,
    &rules::namespace_privileged::RULE,
    &rules::node_disk_paths::RULE,
    &rules::data_path_setting::RULE,
    &rules::default_disks::RULE,
    &rules::default_setting_configmap::RULE,
    &rules::data_on_ephemeral::RULE,
    &rules::v2_hugepages::RULE,
    &rules::pod_host_paths::RULE,
    &rules::pod_tmpfs::RULE,
];

/// The rule with this ID.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// Validates a parsed config file against this registry.
pub fn validate(file: ConfigFile, origin: &str) -> Result<Config, ConfigError> {
    let keys: Vec<RuleKey> = RULES
        .iter()
        .map(|r| RuleKey {
            id: r.id,
            group: r.group,
            default: r.default_mode,
        })
        .collect();
    file.validate(origin, &keys)
}

impl Config {
    /// Parses and validates YAML text; `origin` names it in errors. (Here,
    /// next to the registry, because only the registry knows the rule IDs.)
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        validate(ConfigFile::parse(text, origin)?, origin)
    }
}

impl Default for Config {
    fn default() -> Self {
        validate(ConfigFile::default(), "embedded defaults")
            .expect("the embedded defaults are valid")
    }
}

/// The mode `rule` runs in for a request by `username`.
pub fn mode(rule: &Rule, cfg: &Config, username: &str) -> Mode {
    match cfg.policies.mode(rule.id) {
        Mode::Enforce if (rule.warn_only)(username, cfg) => Mode::Warn,
        m => m,
    }
}

/// The rules that run on `req` in `phase`, each with its mode (never `off`).
pub fn applicable<'r>(
    phase: Phase,
    req: &'r Request<'_>,
    cfg: &'r Config,
) -> impl Iterator<Item = (&'static Rule, Mode)> + 'r {
    let exempt = phase == Phase::Validate && cfg.is_exempt(&req.username);
    let kind = req.subject.kind();
    RULES
        .iter()
        .copied()
        .filter(move |r| {
            !exempt
                && r.phase == phase
                && r.kinds.contains(&kind)
                && r.operations.contains(&req.operation)
        })
        .map(move |r| (r, mode(r, cfg, &req.username)))
        .filter(|(_, m)| *m != Mode::Off)
}

/// The cluster facts the rules that run on `req` need.
pub fn fact_queries(phase: Phase, req: &Request<'_>, cfg: &Config) -> Vec<FactQuery> {
    let mut out = Vec::new();
    for (rule, _) in applicable(phase, req, cfg) {
        for q in (rule.facts)(req, cfg) {
            if !out.contains(&q) {
                out.push(q);
            }
        }
    }
    out
}

/// Runs every rule that applies to `req` in `phase`: each one's result with
/// its mode, in registry order, no sentences.
pub fn judge(phase: Phase, req: &Request<'_>, cfg: &Config, facts: &Facts) -> Judgement {
    Judgement {
        phase,
        results: applicable(phase, req, cfg)
            .map(|(rule, mode)| RuleResult {
                rule,
                mode,
                outcome: (rule.check)(req, cfg, facts),
            })
            .collect(),
    }
}

/// [`judge`], rendered into the webhook's answer.
pub fn evaluate(phase: Phase, req: &Request<'_>, cfg: &Config, facts: &Facts) -> Verdict {
    judge(phase, req, cfg, facts).verdict(cfg.host.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                r.id.len() == 8
                    && r.id.starts_with("LTG-W")
                    && r.id[5..].bytes().all(|b| b.is_ascii_digit()),
                "{}",
                r.id
            );
            assert!(!r.kinds.is_empty() && !r.operations.is_empty(), "{}", r.id);
            assert!(
                RULES[i + 1..].iter().all(|o| o.id != r.id),
                "duplicate {}",
                r.id
            );
            assert!(rule(r.id).is_some());
        }
    }

    #[test]
    fn longhorns_accounts_only_get_warnings_from_the_disk_rules_as_the_readme_says() {
        // README "Rules": the Longhorn namespace's service accounts only ever get warnings
        // from the disk rules (LTG-W010 to LTG-W014, LTG-W020).
        let cfg = Config::default();
        let sa = "system:serviceaccount:longhorn-system:longhorn-service-account";
        for r in RULES {
            let disk_rule = matches!(r.group, "diskPaths" | "blockDisks");
            assert_eq!((r.warn_only)(sa, &cfg), disk_rule, "{} under {sa}", r.id);
        }
    }

    #[test]
    fn an_id_entry_wins_over_its_group() {
        let cfg = Config::from_yaml("policies: {diskPaths: warn, LTG-W011: off}", "t").unwrap();
        let by_id = |id| mode(rule(id).unwrap(), &cfg, "admin");
        assert_eq!(by_id("LTG-W010"), Mode::Warn);
        assert_eq!(by_id("LTG-W011"), Mode::Off);
        assert_eq!(by_id("LTG-W002"), Mode::Enforce);
    }
}
