//! Runs the pinned kubectl against the test cluster and keeps what a user
//! would see: the exit status, stdout and stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// kubectl bound to one kubeconfig and a private discovery cache.
#[derive(Clone)]
pub struct Kubectl {
    /// The kubectl binary.
    pub bin: PathBuf,
    /// The admin kubeconfig of the test cluster.
    pub kubeconfig: PathBuf,
    /// Discovery cache folder (kept out of the user's ~/.kube).
    pub cache_dir: PathBuf,
}

/// One finished kubectl command.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub cmd: String,
    /// True when kubectl exited 0.
    pub success: bool,
    /// The exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// What kubectl printed on stdout.
    pub stdout: String,
    /// What kubectl printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Panics unless kubectl exited 0; returns the run for further checks.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(self.success, "expected success, got {self}");
        self
    }

    /// Panics unless kubectl exited non-zero.
    #[track_caller]
    pub fn failed(self) -> Run {
        assert!(!self.success, "expected a failure, got {self}");
        self
    }

    /// Panics unless stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Run {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}; got {self}"
        );
        self
    }

    /// Panics unless stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}; got {self}"
        );
        self
    }

    /// Panics if stderr contains `text`.
    #[track_caller]
    pub fn stderr_lacks(self, text: &str) -> Run {
        assert!(
            !self.stderr.contains(text),
            "stderr has {text:?}; got {self}"
        );
        self
    }

    /// The denial `webhook` gave, as kubectl printed it: stderr after
    /// `admission webhook "<webhook>" denied the request: `, to its end.
    #[track_caller]
    pub fn denial(&self, webhook: &str) -> String {
        let head = format!("admission webhook \"{webhook}\" denied the request: ");
        let Some(i) = self.stderr.find(&head) else {
            panic!("no denial by {webhook}; got {self}");
        };
        self.stderr[i + head.len()..].trim_end().to_string()
    }

    /// The warnings kubectl printed (`Warning: ` lines), without the prefix.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("Warning: "))
            .collect()
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); got {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

impl Kubectl {
    /// Runs kubectl with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs kubectl with `args`, feeding `stdin` (for `-f -`).
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .arg("--request-timeout=30s")
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(input.as_bytes())
                .expect("write kubectl's stdin");
        }
        let out = child.wait_with_output().expect("wait for kubectl");
        let run = Run {
            cmd: format!("kubectl {}", args.join(" ")),
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        // LTG_E2E_VERBOSE=1 (with --nocapture) shows every call as a user sees it.
        if std::env::var_os("LTG_E2E_VERBOSE").is_some() {
            eprintln!("{run}");
        }
        run
    }

    /// `kubectl <verb> -f -` with `manifest` on stdin.
    pub fn with_manifest(&self, args: &[&str], manifest: &str) -> Run {
        let mut all = args.to_vec();
        all.extend(["-f", "-"]);
        self.run_with_stdin(&all, Some(manifest))
    }
}
