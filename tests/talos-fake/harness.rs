//! Runs the Talos API double (tests/talos-fake/, built by its build.sh):
//! a scenario in, the talosconfig it writes (one context per role set) out.
//! It stops when its stdin closes (on drop).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The double's binary, built once per test process.
pub fn fake_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("tests/talos-fake/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/talos-fake/build.sh");
        assert!(
            out.status.success(),
            "tests/talos-fake/build.sh failed (Go is needed to build the Talos API double; this test does not skip)"
        );
        PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .expect("build.sh prints the double's path"),
        )
    })
}

/// A running double.
pub struct TalosFake {
    child: Child,
    _stdin: ChildStdin,
    dir: tempfile::TempDir,
}

impl TalosFake {
    /// Starts the double on `scenario` (see tests/talos-fake/main.go, `scenario`).
    pub fn start(scenario: &Value) -> TalosFake {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("scenario.json");
        std::fs::write(&path, scenario.to_string()).expect("write the scenario");
        let mut child = Command::new(fake_bin())
            .arg(&path)
            .arg(dir.path().join("talosconfig"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the double");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the double");
        assert!(
            line.starts_with("listening "),
            "the double did not start: {line:?}"
        );
        TalosFake {
            child,
            _stdin: stdin,
            dir,
        }
    }

    /// The talosconfig the double wrote.
    pub fn talosconfig(&self) -> PathBuf {
        self.dir.path().join("talosconfig")
    }
}

impl Drop for TalosFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
