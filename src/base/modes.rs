//! Small enums shared by the configuration, the rules and the renderer.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::paths::HostPath;

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

/// What a rule does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny the request.
    Enforce,
    /// Allow it, with an AdmissionResponse warning kubectl prints.
    Warn,
    /// Do not evaluate the rule.
    Off,
}

impl Mode {
    /// The spelling in the config file, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }
}

/// A host path the kubelet container can see, and its propagation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedMount {
    /// The normalised host path.
    pub path: HostPath,
    /// Its propagation in the kubelet container.
    pub propagation: Propagation,
}
