//! The pinned helm of the chart tests, built once by `tests/helm/build.sh`
//! (or taken from HELM_BIN_DIR), and the guard's chart in the repository.
//! Shared by tests/chart.rs and tests/e2e_helm.rs through `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The chart under test.
pub fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/chart/longhorn-talos-guard")
}

/// The Longhorn-like fixture chart (tests/fixtures/charts/longhorn-like).
pub fn longhorn_like() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/longhorn-like")
}

/// A major version of helm the tests run, as `build.sh` names its binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helm {
    /// helm v3 (helm.sh/helm/v3, pinned in tests/helm/go.mod).
    V3,
    /// helm v4 (helm.sh/helm/v4, pinned in tests/helm/v4/go.mod).
    V4,
}

impl Helm {
    /// Both, v3 first.
    pub const ALL: [Helm; 2] = [Helm::V3, Helm::V4];

    /// The binary's name in the folder build.sh prints.
    fn file(self) -> &'static str {
        match self {
            Helm::V3 => "helm-v3",
            Helm::V4 => "helm-v4",
        }
    }

    /// The binary.
    pub fn path(self) -> PathBuf {
        bin_dir().join(self.file())
    }
}

/// The folder holding helm-v3 and helm-v4. Runs the build script once per
/// test process; any failure (no Go, a failed build) fails the test with the
/// script's message.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "helm is not available: {} exited {:?}:\n{stderr}",
            script.display(),
            out.status.code()
        );
        eprint!("{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("{} printed no folder", script.display()))
            .trim();
        PathBuf::from(dir)
    })
}

/// Helm's cache, config and data folders: a temp dir of this test process,
/// so that no test reads or writes the user's ~/.config/helm.
fn helm_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("ltg-helm-")
            .tempdir()
            .expect("make a temp dir for helm")
    })
    .path()
}

/// The result of one helm run.
pub struct Run {
    /// Whether helm exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// The command line, for messages.
    pub command: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (success: {})\nstdout:\n{}\nstderr:\n{}",
            self.command, self.success, self.stdout, self.stderr
        )
    }
}

/// Runs `helm args...` with its own folders and, when given, `kubeconfig`.
pub fn run(helm: Helm, args: &[&str], kubeconfig: Option<&Path>) -> Run {
    let home = helm_home();
    let path = helm.path();
    let mut cmd = Command::new(&path);
    cmd.args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_KUBECONTEXT");
    match kubeconfig {
        Some(path) => cmd.env("KUBECONFIG", path),
        None => cmd.env_remove("KUBECONFIG"),
    };
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command: format!("{} {}", helm.file(), args.join(" ")),
    }
}
