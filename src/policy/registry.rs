//! The registry: every rule with its stable ID, and the one place where
//! modes, exempt users, operations and kinds decide whether a rule runs and
//! what its violations do (deny, warn or nothing).
//!
//! Adding a rule: write its file under [`super::rules`] (on the interface of
//! [`super::rule`]) and add one line to [`RULES`].
//!
//! The rule interface moved to [`super::rule`]; it is re-exported here so
//! that `policy::registry::{Rule, Outcome, ...}` keeps working.

pub use super::rule::{Outcome, Rule, longhorn_itself, no_facts, nobody, nodes_and_longhorn};

use super::judgement::{Judgement, RuleResult};
use super::rules;
use super::writes::Writes;
use super::{FactQuery, Facts, Phase, Request, Verdict};
use crate::base::Mode;
use crate::config::{Config, ConfigError, ConfigFile, RuleKey};

/// Every rule, in evaluation order.
pub static RULES: &[&Rule] = &[
    &rules::namespace_labels::RULE,
    &rules::namespace_privileged::RULE,
    &rules::node_disk_paths::RULE,
    &rules::data_path_setting::RULE,
    &rules::default_disks::RULE,
    &rules::default_setting_configmap::RULE,
    &rules::data_on_ephemeral::RULE,
    &rules::node_volume_reported::RULE,
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

/// The mode the config sets for `rule`. A config is validated against this
/// registry ([`validate`]), so it names every rule; one validated against
/// another list runs the rule in its default mode.
pub fn configured(rule: &Rule, cfg: &Config) -> Mode {
    cfg.policies.mode(rule.id).unwrap_or(rule.default_mode)
}

/// The mode `rule` runs in for a request by `username`.
pub fn mode(rule: &Rule, cfg: &Config, username: &str) -> Mode {
    match configured(rule, cfg) {
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

/// What `req` writes, read once for the rules that run on it in `phase`
/// (nothing when none runs).
pub fn writes<'r>(phase: Phase, req: &'r Request<'r>, cfg: &'r Config) -> Writes<'r> {
    if applicable(phase, req, cfg).next().is_some() {
        Writes::read(req, cfg)
    } else {
        Writes::default()
    }
}

/// The cluster facts the rules that run on `req` need.
pub fn fact_queries(
    phase: Phase,
    req: &Request<'_>,
    cfg: &Config,
    writes: &Writes<'_>,
) -> Vec<FactQuery> {
    let mut out = Vec::new();
    for (rule, _) in applicable(phase, req, cfg) {
        for q in (rule.facts)(req, cfg, writes) {
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
    judge_writes(phase, req, cfg, facts, &writes(phase, req, cfg))
}

/// [`judge`] with what the request writes already read ([`writes`]).
pub fn judge_writes(
    phase: Phase,
    req: &Request<'_>,
    cfg: &Config,
    facts: &Facts,
    writes: &Writes<'_>,
) -> Judgement {
    Judgement {
        phase,
        results: applicable(phase, req, cfg)
            .map(|(rule, mode)| RuleResult {
                rule,
                mode,
                outcome: (rule.check)(req, cfg, facts, writes),
            })
            .collect(),
    }
}

/// [`judge`], rendered into the webhook's answer.
pub fn evaluate(phase: Phase, req: &Request<'_>, cfg: &Config, facts: &Facts) -> Verdict {
    judge(phase, req, cfg, facts).verdict(cfg.host.as_ref())
}

/// The Kubernetes node whose facts [`evaluate`] needs for `req`, if any.
pub fn node_lookup(req: &Request<'_>, cfg: &Config) -> Option<String> {
    let writes = writes(Phase::Validate, req, cfg);
    fact_queries(Phase::Validate, req, cfg, &writes)
        .into_iter()
        .find_map(|q| match q {
            FactQuery::Hugepages(node) => Some(node),
            FactQuery::NodeVolumes(_) => None,
        })
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
    fn asking_the_mode_of_an_unknown_rule_is_an_error_not_enforce() {
        let cfg = Config::default();
        for id in ["LTG-W999", "diskPaths", "LTG-T001", ""] {
            assert_eq!(
                cfg.policies.mode(id).unwrap_err().to_string(),
                format!("no rule or rule group is named {id:?}")
            );
        }
        // Every rule of the registry has its mode, its default when unnamed.
        for r in RULES {
            assert_eq!(cfg.policies.mode(r.id), Ok(r.default_mode), "{}", r.id);
            assert_eq!(configured(r, &cfg), r.default_mode, "{}", r.id);
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
