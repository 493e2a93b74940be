//! The talosconfig file: where Talos's clients look for it, and the one
//! context a command uses (`--context`, `--endpoints`, `--nodes` over it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// Why no usable talosconfig context was found.
#[derive(Debug, thiserror::Error)]
pub enum TalosconfigError {
    /// No file in any place Talos looks.
    #[error(
        "no talosconfig: none of {0} exists; give one with --talosconfig or $TALOSCONFIG (talosctl config new, or the Secret of a talos.dev ServiceAccount)"
    )]
    NotFound(String),
    /// The file cannot be read.
    #[error("cannot read the talosconfig {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a talosconfig.
    #[error("{path} is not a talosconfig: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// The asked (or current) context is not in the file.
    #[error("{path}: no context {name:?} (contexts: {known})")]
    NoContext {
        /// The file.
        path: PathBuf,
        /// The context asked for.
        name: String,
        /// The contexts the file has.
        known: String,
    },
    /// A field of the context is missing or not base64 PEM.
    #[error("{path}: context {context}: {message}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The context.
        context: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    context: String,
    #[serde(default)]
    contexts: BTreeMap<String, RawContext>,
}

#[derive(Deserialize)]
struct RawContext {
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    ca: String,
    #[serde(default)]
    crt: String,
    #[serde(default)]
    key: String,
}

/// One context of a talosconfig, its PEMs decoded.
#[derive(Clone)]
pub struct Context {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// apid endpoints (`host` or `host:port`).
    pub endpoints: Vec<String>,
    /// The nodes commands go to by default.
    pub nodes: Vec<String>,
    /// The Talos CA (PEM).
    pub ca_pem: Vec<u8>,
    /// The client certificate (PEM).
    pub crt_pem: Vec<u8>,
    /// The client key (PEM, relabelled so rustls reads an Ed25519 PKCS#8 key).
    pub key_pem: Vec<u8>,
}

/// The places Talos's clients look for a talosconfig, in order, when none is
/// given: `$TALOSCONFIG`, `$TALOS_HOME/config` (or `~/.talos/config`), then
/// the mount of a `talos.dev` ServiceAccount's Secret,
/// `/var/run/secrets/talos.dev/config` (siderolabs/talos
/// `pkg/machinery/client/config/path.go`, `GetDefaultPaths`, v1.14.1).
pub fn default_paths(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = env("TALOSCONFIG") {
        paths.push(PathBuf::from(p));
    }
    let talos_home = env("TALOS_HOME")
        .filter(|p| Path::new(p).is_absolute())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".talos")));
    if let Some(dir) = talos_home {
        paths.push(dir.join("config"));
    }
    paths.push(PathBuf::from("/var/run/secrets/talos.dev/config"));
    paths
}

/// The talosconfig to read: `explicit` if given, else the first of
/// [`default_paths`] that exists (as talosctl's `firstValidPath`).
pub fn locate(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, TalosconfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let paths = default_paths(env);
    paths.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        TalosconfigError::NotFound(
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// Reads `path` and picks `context` (else the file's current context).
pub fn load(path: &Path, context: Option<&str>) -> Result<Context, TalosconfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| TalosconfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, context)
}

/// Parses a talosconfig's text (see [`load`]).
pub fn parse(path: &Path, text: &str, context: Option<&str>) -> Result<Context, TalosconfigError> {
    let file: File = serde_saphyr::from_str(text).map_err(|e| TalosconfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let name = context.unwrap_or(&file.context).to_string();
    let Some(raw) = file.contexts.get(&name) else {
        return Err(TalosconfigError::NoContext {
            path: path.to_path_buf(),
            name,
            known: file.contexts.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    };
    let field = |what: &str, value: &str| -> Result<Vec<u8>, TalosconfigError> {
        let err = |message: String| TalosconfigError::Field {
            path: path.to_path_buf(),
            context: name.clone(),
            message,
        };
        if value.is_empty() {
            return Err(err(format!("no {what}")));
        }
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| err(format!("{what} is not base64: {e}")))
    };
    let key = field("key", &raw.key)?;
    Ok(Context {
        path: path.to_path_buf(),
        name: name.clone(),
        endpoints: raw.endpoints.clone(),
        nodes: raw.nodes.clone(),
        ca_pem: field("ca", &raw.ca)?,
        crt_pem: field("crt", &raw.crt)?,
        key_pem: relabel_ed25519(&key),
    })
}

/// Talos writes Ed25519 keys as PKCS#8 under the label `ED25519 PRIVATE KEY`
/// (siderolabs/crypto `x509/key.go`, v0.6.5); the body is plain PKCS#8, which
/// rustls reads under the standard label `PRIVATE KEY`.
fn relabel_ed25519(pem: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(pem)
        .replace("ED25519 PRIVATE KEY", "PRIVATE KEY")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talos_looks_in_env_then_home_then_the_service_account_mount() {
        // siderolabs/talos pkg/machinery/client/config/path.go GetDefaultPaths (v1.14.1).
        let env = |k: &str| match k {
            "TALOSCONFIG" => Some("/tmp/tc".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            default_paths(&env),
            [
                PathBuf::from("/tmp/tc"),
                PathBuf::from("/home/u/.talos/config"),
                PathBuf::from("/var/run/secrets/talos.dev/config")
            ]
        );
        let home = |k: &str| match k {
            "TALOS_HOME" => Some("/opt/talos".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(default_paths(&home)[0], PathBuf::from("/opt/talos/config"));
    }

    #[test]
    fn a_missing_context_names_the_known_ones() {
        let text = "context: a\ncontexts:\n  a:\n    endpoints: [1.2.3.4]\n    ca: Zm9v\n    crt: Zm9v\n    key: Zm9v\n";
        let err = parse(Path::new("tc"), text, Some("b"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("tc: no context \"b\" (contexts: a)"));
        let ctx = parse(Path::new("tc"), text, None).expect("parses");
        assert_eq!(ctx.endpoints, ["1.2.3.4"]);
    }
}
