//! Where the configuration comes from: the webhook's YAML file (or the
//! embedded defaults) and, optionally, Talos machine configs that give the
//! host model the node's layout. Reads files; [`crate::config`] only
//! validates text.

use std::path::PathBuf;

use crate::config::{Config, ConfigError, ConfigFile, MountEntry};
use crate::policy::registry;
use crate::talos::{self, DerivedMount, TalosError};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The webhook's config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A Talos machine config given for the allowed mounts could not be read.
    #[error(transparent)]
    Talos(#[from] TalosError),
}

/// Where the configuration comes from: an optional YAML file and optional
/// Talos machine configs that tell the host model the node's layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSource {
    /// The webhook's configuration file; the embedded defaults when `None`.
    pub file: Option<PathBuf>,
    /// Talos machine configs and patches, merged in order. When given, the
    /// host model knows the node's volumes (and their types), extraMounts,
    /// `KubeletConfig` document, Talos 1.14 system volumes and workload
    /// isolation, and Talos version; `allowedMounts` is not
    /// changed.
    pub talos_files: Vec<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.display().to_string(),
        error,
    })
}

/// Reads a `--talos-config` file; a failure names it as a Talos machine config.
fn read_talos(path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::ReadTalos {
        path: path.display().to_string(),
        error,
    })
}

impl ConfigSource {
    /// Every file the configuration is built from (to watch for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        self.file.iter().chain(&self.talos_files).cloned().collect()
    }

    /// The raw bytes of every file, in [`ConfigSource::files`] order, to tell
    /// whether anything changed since the last load.
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        let config = self.file.iter().map(|p| (p, true));
        let talos = self.talos_files.iter().map(|p| (p, false));
        config
            .chain(talos)
            .map(|(p, is_config)| {
                std::fs::read(p).map_err(|error| {
                    let path = p.display().to_string();
                    if is_config {
                        ConfigError::Read { path, error }
                    } else {
                        ConfigError::ReadTalos { path, error }
                    }
                })
            })
            .collect()
    }

    /// Reads, merges and validates everything.
    pub fn load(&self) -> Result<Config, SourceError> {
        let (file, origin) = match &self.file {
            None => (ConfigFile::default(), "embedded defaults".to_string()),
            Some(path) => {
                let origin = path.display().to_string();
                (ConfigFile::parse(&read(path)?, &origin)?, origin)
            }
        };
        let mut config = registry::validate(file, &origin)?;
        if !self.talos_files.is_empty() {
            let mut inputs = Vec::with_capacity(self.talos_files.len());
            for path in &self.talos_files {
                inputs.push((path.display().to_string(), read_talos(path)?));
            }
            config.host = Some(talos::layout(&talos::load(&inputs)?));
        }
        Ok(config)
    }
}

/// The derived mounts as `allowedMounts` entries of the webhook's config file.
pub fn mount_entries(mounts: &[DerivedMount]) -> Vec<MountEntry> {
    mounts
        .iter()
        .map(|m| MountEntry {
            path: m.path.as_str().to_string(),
            propagation: Some(m.propagation),
        })
        .collect()
}
