//! The policy configuration: the YAML file format, its embedded defaults, and
//! the validated [`Config`] every rule reads. Parsed once per (re)load; the
//! files it is read from (and Talos machine configs) are in [`crate::source`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::base::longhorn::{DEFAULT_NAMESPACE, DEFAULT_V2_MIN_HUGEPAGES};
use crate::base::quantity;
use crate::base::yaml::YamlError;
use crate::base::{AllowedMount, HostPath, Level, Mode, Propagation};
use crate::host::{self, Layout, Place};

/// A rule as the configuration knows it: its ID, its group, its default mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleKey {
    /// The rule's stable ID (`LTG-W010`).
    pub id: &'static str,
    /// Its group (`diskPaths`).
    pub group: &'static str,
    /// Its mode when `policies:` names neither the ID nor the group.
    pub default: Mode,
}

/// The mode of every rule, resolved from the `policies:` section: an entry
/// for a rule ID (`LTG-W010`) wins over one for its group (`diskPaths`);
/// rules not named keep their default. A group entry sets only the rules
/// whose default is `enforce` (a rule that warns by default changes only by
/// its ID). Only [`ConfigFile::validate`] makes one, with every rule of the
/// registry it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    modes: Vec<(RuleKey, Mode)>,
}

impl Policies {
    /// The mode of the rule `id`; an ID no rule has is an error (never a
    /// silent `enforce`).
    pub fn mode(&self, id: &str) -> Result<Mode, UnknownRule> {
        self.modes
            .iter()
            .find(|(k, _)| k.id == id)
            .map(|(_, m)| *m)
            .ok_or_else(|| UnknownRule(id.to_string()))
    }

    /// Sets the mode of every rule `key` names (its ID, or its group for
    /// rules enforced by default); a key that names no rule is an error.
    pub fn set(&mut self, key: &str, mode: Mode) -> Result<(), UnknownRule> {
        let mut named = false;
        for (k, m) in &mut self.modes {
            if k.id == key || k.group == key {
                named = true;
            }
            if k.id == key || (k.group == key && k.default == Mode::Enforce) {
                *m = mode;
            }
        }
        if named {
            Ok(())
        } else {
            Err(UnknownRule(key.to_string()))
        }
    }
}

/// The validated configuration all policies read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The namespace Longhorn runs in.
    pub longhorn_namespace: String,
    /// The enforce level the API server applies to a namespace without the label.
    pub cluster_default_enforce: Level,
    /// Host paths an operator vouches for as Longhorn data locations on every
    /// node without an override (paths the host model cannot know: a volume
    /// the guard cannot see). Empty by default: the host model already allows
    /// `/var/lib/longhorn` and the user volumes under `/var/mnt`.
    pub allowed_mounts: Vec<AllowedMount>,
    /// Per-node vouched paths; a node listed here uses only its own list. Not
    /// checked against the Talos host model (for a node that is not Talos).
    pub node_allowed_mounts: BTreeMap<String, Vec<AllowedMount>>,
    /// Usernames whose requests skip validation (mutation still applies).
    pub exempt_usernames: Vec<String>,
    /// Minimum `hugepages-2Mi` capacity, in bytes, a node needs for V2 block disks.
    pub v2_min_hugepages_bytes: u64,
    /// The mode of each rule.
    pub policies: Policies,
    /// The node layout read from Talos machine configs (`--talos-config`),
    /// when given: the host model then knows the volumes and extraMounts.
    pub host: Option<Layout>,
}

/// An error in a configuration file, naming the field or the YAML position.
/// Each message names its file once and carries its cause (an I/O error is in
/// the message, so it is not also a `source`, which would print it twice in
/// an error chain).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A Talos machine config given with `--talos-config` could not be read.
    #[error("cannot read Talos machine config {path} (--talos-config): {error}")]
    ReadTalos {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The YAML does not have the expected shape.
    #[error("config {origin}{}: {message}", position(*.line, *.column))]
    Syntax {
        /// Where the text came from.
        origin: String,
        /// 1-based line of the error, when the parser knows it.
        line: Option<u64>,
        /// 1-based column of the error, when the parser knows it.
        column: Option<u64>,
        /// The parser's message, without the position.
        message: String,
    },
    /// A field has a value the webhook cannot use.
    #[error("config {origin}: {field}: {message}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// The field, as a path in the file (`allowedMounts[1].path`).
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// A rule ID or group that no rule of the registry has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rule or rule group is named {0:?}")]
pub struct UnknownRule(pub String);

/// `:line:column` (or `:line`) after a file name, as compilers print it.
fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl ConfigError {
    /// A syntax error of `origin` from the YAML parser's error: the position
    /// goes into the fields, and the parser's own "error: line N column M: "
    /// prefix, its " at line N, column M" suffix and its source snippet (which
    /// names the text `<input>`) are dropped.
    fn syntax(origin: &str, e: &serde_saphyr::Error) -> ConfigError {
        let y = YamlError::from(e);
        ConfigError::Syntax {
            origin: origin.to_string(),
            line: y.line,
            column: y.column,
            message: y.message,
        }
    }
}

/// The configuration file as written (camelCase YAML); every field optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// See [`Config::longhorn_namespace`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longhorn_namespace: Option<String>,
    /// See [`Config::cluster_default_enforce`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_default_enforce: Option<Level>,
    /// See [`Config::allowed_mounts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mounts: Option<Vec<MountEntry>>,
    /// Per-node settings, keyed by node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<BTreeMap<String, NodeEntry>>,
    /// See [`Config::exempt_usernames`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_usernames: Option<Vec<String>>,
    /// Minimum `hugepages-2Mi` for V2 block disks, as a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2_min_hugepages: Option<String>,
    /// Rule modes, by rule ID or rule group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<BTreeMap<String, Mode>>,
}

/// One `allowedMounts` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountEntry {
    /// Absolute host path.
    pub path: String,
    /// Propagation; `rshared` when omitted (the Talos guide's extraMount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
}

/// One `nodes.<name>` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's allowed mounts, replacing the global list for that node.
    pub allowed_mounts: Vec<MountEntry>,
}

impl Config {
    /// The allowed mounts for `node`: its own list when configured, else the global one.
    pub fn mounts_for_node(&self, node: &str) -> &[AllowedMount] {
        self.node_allowed_mounts
            .get(node)
            .map(Vec::as_slice)
            .unwrap_or(&self.allowed_mounts)
    }

    /// True when `username` is exempt from validation.
    pub fn is_exempt(&self, username: &str) -> bool {
        self.exempt_usernames.iter().any(|u| u == username)
    }
}

impl ConfigFile {
    /// Parses YAML text without validating values; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ConfigError::syntax(origin, &e))
    }

    /// Checks every field and applies the defaults. `rules` are the rules a
    /// `policies:` key may name (the registry's; see
    /// [`crate::policy::registry::validate`]).
    pub fn validate(self, origin: &str, rules: &[RuleKey]) -> Result<Config, ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            field,
            message,
        };
        let longhorn_namespace = self
            .longhorn_namespace
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        if !is_dns_label(&longhorn_namespace) {
            return Err(invalid(
                "longhornNamespace".into(),
                format!(
                    "{longhorn_namespace:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)"
                ),
            ));
        }
        let allowed_mounts = match self.allowed_mounts {
            None => Vec::new(),
            Some(list) => {
                let list = mounts(&list, "allowedMounts", &invalid)?;
                for (i, m) in list.iter().enumerate() {
                    if let Some(why) = never_data(&m.path) {
                        return Err(invalid(
                            format!("allowedMounts[{i}].path"),
                            format!(
                                "{:?} is {why} on a Talos node, so no Longhorn data can live there; list a path Talos \
mounts (a user volume under /var/mnt/<name>) or, for a node that is not Talos, list the path under \
nodes.<node>.allowedMounts",
                                m.path.as_str()
                            ),
                        ));
                    }
                }
                list
            }
        };
        let mut node_allowed_mounts = BTreeMap::new();
        for (node, entry) in self.nodes.unwrap_or_default() {
            if node.is_empty() {
                return Err(invalid("nodes".into(), "a node name is empty".into()));
            }
            let list = mounts(
                &entry.allowed_mounts,
                &format!("nodes.{node}.allowedMounts"),
                &invalid,
            )?;
            node_allowed_mounts.insert(node, list);
        }
        let exempt_usernames = self.exempt_usernames.unwrap_or_default();
        if let Some(i) = exempt_usernames.iter().position(|u| u.is_empty()) {
            return Err(invalid(
                format!("exemptUsernames[{i}]"),
                "a username is empty".into(),
            ));
        }
        let hugepages = self
            .v2_min_hugepages
            .unwrap_or_else(|| DEFAULT_V2_MIN_HUGEPAGES.to_string());
        let v2_min_hugepages_bytes = quantity::parse_bytes(&hugepages).map_err(|e| {
            invalid(
                "v2MinHugepages".into(),
                format!("{hugepages:?} is not a quantity: {e}"),
            )
        })?;
        let entries = self.policies.unwrap_or_default();
        if let Some(key) = entries.keys().find(|k| {
            !rules
                .iter()
                .any(|r| r.id == k.as_str() || r.group == k.as_str())
        }) {
            return Err(invalid(
                format!("policies.{key}"),
                "not a rule ID or rule group (see the README's rule table)".into(),
            ));
        }
        let policies = Policies {
            modes: rules
                .iter()
                .map(|r| {
                    let group = entries.get(r.group).filter(|_| r.default == Mode::Enforce);
                    let mode = entries.get(r.id).or(group).copied().unwrap_or(r.default);
                    (*r, mode)
                })
                .collect(),
        };
        Ok(Config {
            longhorn_namespace,
            cluster_default_enforce: self.cluster_default_enforce.unwrap_or(Level::Baseline),
            allowed_mounts,
            node_allowed_mounts,
            exempt_usernames,
            v2_min_hugepages_bytes,
            policies,
            host: None,
        })
    }
}

fn mounts(
    list: &[MountEntry],
    field: &str,
    invalid: &dyn Fn(String, String) -> ConfigError,
) -> Result<Vec<AllowedMount>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let path = HostPath::parse(&entry.path).map_err(|e| {
            invalid(
                format!("{field}[{i}].path"),
                format!("{:?}: {e}", entry.path),
            )
        })?;
        if path.is_root() {
            return Err(invalid(
                format!("{field}[{i}].path"),
                "/ cannot be an allowed mount: it would allow every host path".into(),
            ));
        }
        out.push(AllowedMount {
            path,
            propagation: entry.propagation.unwrap_or(Propagation::Rshared),
        });
    }
    Ok(out)
}

/// Why the host model rules out `path` as a place for data, if it does.
fn never_data(path: &HostPath) -> Option<String> {
    match host::classify(path, None) {
        Place::ReadOnlyRoot { .. } => Some("on the read-only root filesystem".into()),
        Place::Tmpfs { mount } => Some(format!("on the tmpfs {mount} (emptied at every boot)")),
        Place::DevFs => Some("inside /dev (device nodes)".into()),
        Place::KernelFs => Some("inside a kernel filesystem (/proc, /sys)".into()),
        _ => None,
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_embedded_defaults() {
        let c = Config::from_yaml("", "test").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.longhorn_namespace, "longhorn-system");
        assert_eq!(c.cluster_default_enforce, Level::Baseline);
        assert!(
            c.allowed_mounts.is_empty(),
            "the host model decides by default"
        );
        assert_eq!(c.v2_min_hugepages_bytes, 2 << 30);
        assert_eq!(c.policies.mode("LTG-W010"), Ok(Mode::Enforce));
    }

    #[test]
    fn full_file_parses() {
        let text = "\
longhornNamespace: storage
clusterDefaultEnforce: privileged
allowedMounts:
  - path: /var/lib/longhorn/
  - path: /var/mnt/longhorn
    propagation: rslave
nodes:
  worker-1:
    allowedMounts:
      - path: /var/mnt/fast
exemptUsernames: [\"system:serviceaccount:longhorn-system:longhorn-service-account\"]
v2MinHugepages: 4Gi
policies:
  podHostPaths: warn
  blockDisks: off
";
        let c = Config::from_yaml(text, "test").unwrap();
        assert_eq!(c.longhorn_namespace, "storage");
        assert_eq!(c.allowed_mounts[0].path.as_str(), "/var/lib/longhorn");
        assert_eq!(c.allowed_mounts[1].propagation, Propagation::Rslave);
        assert_eq!(
            c.mounts_for_node("worker-1")[0].path.as_str(),
            "/var/mnt/fast"
        );
        assert_eq!(c.mounts_for_node("worker-2").len(), 2);
        assert_eq!(c.v2_min_hugepages_bytes, 4 << 30);
        assert_eq!(c.policies.mode("LTG-W030"), Ok(Mode::Warn));
        assert_eq!(c.policies.mode("LTG-W020"), Ok(Mode::Off));
        assert!(c.is_exempt("system:serviceaccount:longhorn-system:longhorn-service-account"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("allowedMounts: [{path: var/lib}]", "allowedMounts[0].path"),
            ("allowedMounts: [{path: /}]", "allowedMounts[0].path"),
            // The host model: / is read-only on Talos, /run is tmpfs.
            (
                "allowedMounts: [{path: /mnt/ssd}]",
                "allowedMounts[0].path: \"/mnt/ssd\" is on the read-only root",
            ),
            (
                "allowedMounts: [{path: /var/mnt/x}, {path: /run/x}]",
                "allowedMounts[1].path: \"/run/x\" is on the tmpfs /run",
            ),
            ("longhornNamespace: Longhorn", "longhornNamespace"),
            ("v2MinHugepages: lots", "v2MinHugepages"),
            (
                "nodes: {a: {allowedMounts: [{path: x}]}}",
                "nodes.a.allowedMounts[0].path",
            ),
            ("exemptUsernames: ['']", "exemptUsernames[0]"),
            ("policies: {diskPath: warn}", "policies.diskPath"),
            ("policies: {LTG-W999: warn}", "policies.LTG-W999"),
        ];
        for (text, field) in cases {
            let err = Config::from_yaml(text, "f.yaml").unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
            assert!(err.starts_with("config f.yaml: "), "{err}");
        }
    }

    #[test]
    fn setting_a_mode_by_an_unknown_name_is_an_error() {
        let mut cfg = Config::default();
        assert_eq!(
            cfg.policies
                .set("LTG-W999", Mode::Off)
                .unwrap_err()
                .to_string(),
            r#"no rule or rule group is named "LTG-W999""#
        );
        assert_eq!(cfg.policies.set("LTG-W013", Mode::Enforce), Ok(()));
        assert_eq!(cfg.policies.mode("LTG-W013"), Ok(Mode::Enforce));
        // A group names its warn-by-default members too, and leaves them be.
        assert_eq!(cfg.policies.set("podHostPaths", Mode::Off), Ok(()));
        assert_eq!(cfg.policies.mode("LTG-W031"), Ok(Mode::Warn));
        assert_eq!(cfg.policies.mode("LTG-W030"), Ok(Mode::Off));
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_syntax_errors() {
        for text in [
            "alowedMounts: []",
            "policies: {diskPaths: enforcing}",
            "clusterDefaultEnforce: Privileged",
        ] {
            let err = Config::from_yaml(text, "f.yaml").unwrap_err();
            assert!(matches!(err, ConfigError::Syntax { .. }), "{text}: {err}");
        }
    }
}
