//! The real `serve` binary as a child process on a loopback port the kernel
//! picks (`--listen 127.0.0.1:0`, learned from `--ready-file`: no free-port
//! race), with its log in a file, its `/metrics` readable, and its resident
//! memory sampled every 20 ms. Each child has its own metrics and log, which
//! an in-process server shares with every test of its binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Proto, https};

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

/// A `serve` child with its RSS sampled in the background.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// The CA of the pair it started with.
    pub ca: Vec<u8>,
    pub dir: tempfile::TempDir,
    peak: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
}

/// The resident memory of process `pid` (VmRSS), in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Served {
    /// `serve --kube off` with a fresh pair (one day) in its own folder.
    pub fn start(extra: &[&str]) -> Served {
        let (dir, ca) = super::dev_certs();
        let cert_dir = dir.path().to_path_buf();
        Served::start_in(dir, &cert_dir, ca, extra)
    }

    /// `serve --kube off --cert-dir cert_dir`, its ready file and log in `dir`.
    pub fn start_in(
        dir: tempfile::TempDir,
        cert_dir: &Path,
        ca: Vec<u8>,
        extra: &[&str],
    ) -> Served {
        let ready = dir.path().join("ready");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        // LTG_SERVE_BIN=target/release/longhorn-talos-guard measures the
        // release build with the same tests (.ci/run refuses it: CI tests
        // the binary it built).
        let bin = std::env::var_os("LTG_SERVE_BIN").unwrap_or_else(|| BIN.into());
        let child = Command::new(bin)
            .args([
                "serve",
                "--kube",
                "off",
                "--listen",
                "127.0.0.1:0",
                "--cert-dir",
            ])
            .arg(cert_dir)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("DOS_LOG").unwrap_or("info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut served = Served {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            ca,
            dir,
            peak: Arc::new(AtomicU64::new(0)),
            sampling: Arc::new(AtomicBool::new(true)),
        };
        let started = Instant::now();
        served.addr = loop {
            if let Some(addr) = super::read_ready_file(&ready) {
                break addr;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15)
                    && served.child.try_wait().unwrap().is_none(),
                "serve did not start: {}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let (pid, p, s) = (
            served.child.id(),
            served.peak.clone(),
            served.sampling.clone(),
        );
        std::thread::spawn(move || {
            while s.load(Ordering::Relaxed) {
                match rss_of(pid) {
                    Some(rss) => {
                        p.fetch_max(rss, Ordering::Relaxed);
                    }
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        served
    }

    /// The highest RSS sampled so far.
    pub fn peak_rss(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// The RSS now.
    pub fn rss(&self) -> u64 {
        rss_of(self.child.id()).unwrap_or(0)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Where it logs.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Fails unless the peak RSS stayed under `limit`.
    pub fn assert_rss_under(&self, limit: u64) {
        let peak = self.peak_rss();
        assert!(peak > 0, "RSS was never sampled");
        assert!(
            peak < limit,
            "peak RSS {:.1} MiB is over {:.1} MiB",
            peak as f64 / 1048576.0,
            limit as f64 / 1048576.0
        );
    }

    /// The value of one series of `/metrics` (`name{labels}` exactly as the
    /// exposition writes it), 0 when absent; the server must present a
    /// certificate `ca` verifies.
    pub async fn metric(&self, ca: &[u8], series: &str) -> f64 {
        let a = https(self.addr, ca, Proto::Http1, "GET", "/metrics", vec![])
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        assert_eq!(a.status, 200, "GET /metrics");
        metric_value(&String::from_utf8_lossy(&a.body), series)
    }

    /// Waits until `/metrics` shows `series` at `at_least` or more.
    pub async fn wait_metric(&self, ca: &[u8], series: &str, at_least: f64, timeout: Duration) {
        let start = Instant::now();
        loop {
            let v = self.metric(ca, series).await;
            if v >= at_least {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{series} is {v} after {timeout:?}, not {at_least}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the log holds `n` lines containing `needle`; returns them.
    pub async fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines: Vec<String> = self
                .log()
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_string)
                .collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                start.elapsed() < timeout,
                "{} log lines with {needle:?} after {timeout:?}, not {n}\n{}",
                lines.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The value of `series` in a Prometheus text exposition, 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{series} {v}: {e}"))
        })
        .unwrap_or(0.0)
}

impl Drop for Served {
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
