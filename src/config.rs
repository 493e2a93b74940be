//! The policy configuration: the YAML file format, its embedded defaults, and
//! the validated [`Config`] every policy reads. Parsed once per (re)load.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::policy::paths::HostPath;
use crate::quantity;

/// The Longhorn namespace name Longhorn installs into by default.
pub const DEFAULT_LONGHORN_NAMESPACE: &str = "longhorn-system";
/// The data path from Longhorn's Talos guide (`machine.kubelet.extraMounts`).
pub const DEFAULT_ALLOWED_MOUNT: &str = "/var/lib/longhorn";
/// Longhorn's `data-engine-memory-size` default: 2048 MiB of 2 MiB hugepages.
pub const DEFAULT_V2_MIN_HUGEPAGES: &str = "2Gi";

/// A Pod Security Admission level, spelled exactly as the API server accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No restrictions: what Longhorn's pods need.
    Privileged,
    /// Talos's cluster-wide default.
    Baseline,
    /// The strictest level.
    Restricted,
}

impl Level {
    /// Parses a label value; only the exact lower-case spellings are levels.
    pub fn from_label(value: &str) -> Option<Level> {
        match value {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Mount propagation of a host path as the kubelet container sees it (the
/// option given in a Talos `extraMounts` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `rshared`: mounts made by Longhorn below it reach the host and back.
    Rshared,
    /// `rslave`: host mounts propagate in, pod mounts do not propagate out.
    Rslave,
    /// No propagation.
    Private,
}

impl Propagation {
    /// The option name as written in a Talos machine config.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Rshared => "rshared",
            Propagation::Rslave => "rslave",
            Propagation::Private => "private",
        }
    }
}

impl fmt::Display for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny the request.
    Enforce,
    /// Allow it, with an AdmissionResponse warning kubectl prints.
    Warn,
    /// Do not evaluate the policy.
    Off,
}

/// A host path the kubelet container can see, and its propagation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedMount {
    /// The normalised host path.
    pub path: HostPath,
    /// Its propagation in the kubelet container.
    pub propagation: Propagation,
}

/// The mode of each policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Namespace Pod Security labels (validate and mutate).
    pub namespace_pod_security: Mode,
    /// Longhorn disk paths and the `default-data-path` setting.
    pub disk_paths: Mode,
    /// V2 block disk prerequisites (hugepages on the node).
    pub block_disks: Mode,
    /// Host path volumes of pods in the Longhorn namespace.
    pub pod_host_paths: Mode,
}

/// The validated configuration all policies read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The namespace Longhorn runs in.
    pub longhorn_namespace: String,
    /// The enforce level the API server applies to a namespace without the label.
    pub cluster_default_enforce: Level,
    /// Host paths Longhorn data may live in, on every node without an override.
    pub allowed_mounts: Vec<AllowedMount>,
    /// Per-node allowed mounts; a node listed here uses only its own list.
    pub node_allowed_mounts: BTreeMap<String, Vec<AllowedMount>>,
    /// Usernames whose requests skip validation (mutation still applies).
    pub exempt_usernames: Vec<String>,
    /// Minimum `hugepages-2Mi` capacity, in bytes, a node needs for V2 block disks.
    pub v2_min_hugepages_bytes: u64,
    /// The mode of each policy.
    pub policies: Policies,
}

/// An error in a configuration file, naming the field or the YAML position.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not have the expected shape.
    #[error("config {origin}: {message}")]
    Syntax {
        /// Where the text came from.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A Talos machine config given for the allowed mounts could not be read.
    #[error(transparent)]
    Talos(#[from] crate::talos::TalosError),
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

/// Where the configuration comes from: an optional YAML file and optional
/// Talos machine configs whose mounts are added to `allowedMounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSource {
    /// The webhook's configuration file; the embedded defaults when `None`.
    pub file: Option<PathBuf>,
    /// Talos machine configs and patches, merged in order. When given, the
    /// mounts derived from them replace the default `allowedMounts` (and are
    /// added to a list the file sets explicitly).
    pub talos_files: Vec<PathBuf>,
}

impl ConfigSource {
    /// Every file the configuration is built from (to watch for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        self.file.iter().chain(&self.talos_files).cloned().collect()
    }

    /// The raw bytes of every file, in [`ConfigSource::files`] order, to tell
    /// whether anything changed since the last load.
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        self.files()
            .iter()
            .map(|p| {
                std::fs::read(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })
            })
            .collect()
    }

    /// Reads, merges and validates everything.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let (mut file, origin) = match &self.file {
            None => (ConfigFile::default(), "embedded defaults".to_string()),
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: origin.clone(),
                    source,
                })?;
                (ConfigFile::parse(&text, &origin)?, origin)
            }
        };
        if !self.talos_files.is_empty() {
            let mut inputs = Vec::with_capacity(self.talos_files.len());
            for path in &self.talos_files {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                inputs.push((path.display().to_string(), text));
            }
            let machine = crate::talos::load(&inputs)?;
            let derived = crate::talos::mounts_to_entries(&crate::talos::derive_mounts(&machine));
            let mut list = file.allowed_mounts.take().unwrap_or_default();
            list.extend(derived);
            file.allowed_mounts = Some(list);
        }
        file.validate(&origin)
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
    /// Policy modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<PoliciesEntry>,
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

/// The `policies` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoliciesEntry {
    /// See [`Policies::namespace_pod_security`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_pod_security: Option<Mode>,
    /// See [`Policies::disk_paths`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_paths: Option<Mode>,
    /// See [`Policies::block_disks`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_disks: Option<Mode>,
    /// See [`Policies::pod_host_paths`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_host_paths: Option<Mode>,
}

impl Default for Config {
    fn default() -> Self {
        ConfigFile::default()
            .validate("embedded defaults")
            .expect("the embedded defaults are valid")
    }
}

impl Config {
    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        ConfigFile::parse(text, origin)?.validate(origin)
    }

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
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Checks every field and applies the defaults.
    pub fn validate(self, origin: &str) -> Result<Config, ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            field,
            message,
        };
        let longhorn_namespace = self
            .longhorn_namespace
            .unwrap_or_else(|| DEFAULT_LONGHORN_NAMESPACE.to_string());
        if !is_dns_label(&longhorn_namespace) {
            return Err(invalid(
                "longhornNamespace".into(),
                format!(
                    "{longhorn_namespace:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)"
                ),
            ));
        }
        let allowed_mounts = match self.allowed_mounts {
            None => vec![AllowedMount {
                path: HostPath::parse(DEFAULT_ALLOWED_MOUNT).expect("default mount is absolute"),
                propagation: Propagation::Rshared,
            }],
            Some(list) => mounts(&list, "allowedMounts", &invalid)?,
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
        let p = self.policies.unwrap_or_default();
        let policies = Policies {
            namespace_pod_security: p.namespace_pod_security.unwrap_or(Mode::Enforce),
            disk_paths: p.disk_paths.unwrap_or(Mode::Enforce),
            block_disks: p.block_disks.unwrap_or(Mode::Enforce),
            pod_host_paths: p.pod_host_paths.unwrap_or(Mode::Enforce),
        };
        Ok(Config {
            longhorn_namespace,
            cluster_default_enforce: self.cluster_default_enforce.unwrap_or(Level::Baseline),
            allowed_mounts,
            node_allowed_mounts,
            exempt_usernames,
            v2_min_hugepages_bytes,
            policies,
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
        assert_eq!(c.allowed_mounts.len(), 1);
        assert_eq!(c.allowed_mounts[0].path.as_str(), "/var/lib/longhorn");
        assert_eq!(c.allowed_mounts[0].propagation, Propagation::Rshared);
        assert_eq!(c.v2_min_hugepages_bytes, 2 << 30);
        assert_eq!(c.policies.disk_paths, Mode::Enforce);
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
        assert_eq!(c.policies.pod_host_paths, Mode::Warn);
        assert_eq!(c.policies.block_disks, Mode::Off);
        assert!(c.is_exempt("system:serviceaccount:longhorn-system:longhorn-service-account"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("allowedMounts: [{path: var/lib}]", "allowedMounts[0].path"),
            ("allowedMounts: [{path: /}]", "allowedMounts[0].path"),
            ("longhornNamespace: Longhorn", "longhornNamespace"),
            ("v2MinHugepages: lots", "v2MinHugepages"),
            (
                "nodes: {a: {allowedMounts: [{path: x}]}}",
                "nodes.a.allowedMounts[0].path",
            ),
            ("exemptUsernames: ['']", "exemptUsernames[0]"),
        ];
        for (text, field) in cases {
            let err = Config::from_yaml(text, "f.yaml").unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
            assert!(err.starts_with("config f.yaml: "), "{err}");
        }
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
