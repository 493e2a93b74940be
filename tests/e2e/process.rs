//! Child processes of the e2e harness: each runs in its own process group with
//! its output in a log file, and the whole group is killed when dropped, or
//! by a watchdog when the test process dies without dropping it (Ctrl-C,
//! SIGKILL).

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// A running child process (and its process group).
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    watchdog: Option<Child>,
}

impl Proc {
    /// Starts `cmd` as the leader of a new process group, stdout and stderr
    /// appended to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, cmd: Command, log_dir: &Path) -> Proc {
        Proc::spawn_owning(name, cmd, log_dir, None)
    }

    /// Like [`Proc::spawn`]; if the test process dies without dropping it,
    /// the watchdog also removes `orphan_dir` (the harness's temp dir).
    pub fn spawn_owning(
        name: &str,
        mut cmd: Command,
        log_dir: &Path,
        orphan_dir: Option<&Path>,
    ) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let err = out.try_clone().expect("duplicate the log file handle");
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        // Its own process group too, so that Ctrl-C on the test does not stop it first.
        let watchdog = Command::new("bash")
            .args([
                "-c",
                "while kill -0 \"$0\" 2>/dev/null; do sleep 1; done; kill -KILL -- \"-$1\" 2>/dev/null; \
                 if [ -n \"$2\" ]; then sleep 1; rm -rf -- \"$2\"; fi",
            ])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .arg(orphan_dir.unwrap_or(Path::new("")))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Proc {
            name: name.to_string(),
            child,
            log,
            watchdog,
        }
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log, labelled, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        format!(
            "--- last {n} lines of {} ({}) ---\n{tail}",
            self.name,
            self.log.display()
        )
    }

    /// The exit status, if the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process group with SIGKILL and reaps the leader.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let group = format!("-{}", self.child.id());
            let killed = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !killed {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
