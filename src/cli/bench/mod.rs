//! `bench`: the policies in-process and an HTTPS load on a real server,
//! printed as a table or JSON.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use longhorn_talos_guard::bench;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Decode, evaluate and encode built-in reviews in a loop on one thread.
    Policy {
        /// One fixture; all of them without it.
        #[arg(long)]
        fixture: Option<bench::Fixture>,
        /// Seconds per fixture.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// HTTPS load on /validate, then on /healthz with the same settings.
    /// Without --target, starts `serve` on a free loopback port with fresh dev
    /// certificates (a child process, so that its memory is measured alone).
    Http {
        /// The server, e.g. https://localhost:8443.
        #[arg(long)]
        target: Option<String>,
        /// CA of the target's certificate (default certs-dev/ca.crt).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Connections, each with one request in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds per endpoint.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each measurement.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// The review to send.
        #[arg(long, default_value = "pod")]
        fixture: bench::Fixture,
        /// Use HTTP/1.1 (the default, as the API server calls service webhooks).
        #[arg(long, conflicts_with = "http2")]
        http1: bool,
        /// Use HTTP/2.
        #[arg(long)]
        http2: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<u8> {
    match command {
        BenchCommand::Policy {
            fixture,
            seconds,
            json,
        } => policy(fixture, seconds, json),
        cmd @ BenchCommand::Http { .. } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(http(cmd))),
    }
}

fn policy(fixture: Option<bench::Fixture>, seconds: f64, json: bool) -> anyhow::Result<u8> {
    let fixtures = fixture.map_or(bench::Fixture::ALL.to_vec(), |f| vec![f]);
    let mut reports = Vec::new();
    for f in fixtures {
        reports.push(bench::policy(f, Duration::from_secs_f64(seconds))?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(0);
    }
    println!("fixture    bytes   reviews/s   ns/review   (one thread: decode, evaluate, encode)");
    for r in &reports {
        println!(
            "{:<9} {:>6} {:>11.0} {:>11.0}",
            r.fixture.name(),
            r.bytes,
            r.reviews_per_sec,
            r.ns_per_review
        );
    }
    Ok(0)
}

async fn http(cmd: BenchCommand) -> anyhow::Result<u8> {
    let BenchCommand::Http {
        target,
        ca,
        concurrency,
        duration,
        warmup,
        fixture,
        http1: _,
        http2,
        json,
    } = cmd
    else {
        unreachable!("called for bench http only");
    };
    let proto = if http2 {
        bench::Proto::Http2
    } else {
        bench::Proto::Http1
    };
    let (child, addr, server_name, ca_pem) = match &target {
        None => {
            let exe = std::env::current_exe().context("cannot find this executable")?;
            let child = bench::ChildServer::start(&exe).await?;
            let (addr, ca) = (child.addr, child.ca_pem()?);
            (Some(child), addr, "localhost".to_string(), ca)
        }
        Some(url) => {
            let uri: axum::http::Uri = url
                .parse()
                .with_context(|| format!("--target {url:?} is not a URL"))?;
            let host = uri.host().context("--target has no host")?.to_string();
            let port = uri.port_u16().unwrap_or(443);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .with_context(|| format!("{host} does not resolve"))?;
            let ca = ca.unwrap_or_else(|| PathBuf::from("certs-dev/ca.crt"));
            let pem =
                std::fs::read(&ca).with_context(|| format!("cannot read CA {}", ca.display()))?;
            (None, addr, host, pem)
        }
    };
    let idle = match &child {
        Some(c) => Some(c.rss()?.0),
        None => None,
    };
    let opts = bench::LoadOptions {
        addr,
        server_name,
        ca_pem,
        concurrency: concurrency.max(1),
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        proto,
    };
    let review = bench::load(&opts, "/validate", Some(fixture.body())).await?;
    let health = bench::load(&opts, "/healthz", None).await?;
    let peak = match &child {
        Some(c) => Some(c.rss()?.1),
        None => None,
    };
    let ratio = if health.requests_per_sec > 0.0 {
        review.requests_per_sec / health.requests_per_sec
    } else {
        0.0
    };
    if json {
        let out = serde_json::json!({
            "target": addr.to_string(),
            "fixture": fixture,
            "bytes": fixture.body().len(),
            "proto": proto,
            "concurrency": opts.concurrency,
            "duration_s": duration,
            "validate": review,
            "healthz": health,
            "ratio": ratio,
            "ready_ms": child.as_ref().map(|c| c.ready_after.as_secs_f64() * 1000.0),
            "idle_rss_bytes": idle,
            "peak_rss_bytes": peak,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &child {
            Some(c) => println!(
                "server: {} started by bench, ready in {:.1} ms, idle RSS {}",
                addr,
                c.ready_after.as_secs_f64() * 1000.0,
                bench::mib(idle.unwrap_or(0))
            ),
            None => println!("server: {addr} (--target)"),
        }
        println!(
            "{:?}, {} connections, {duration} s measured after {warmup} s warm-up",
            proto, opts.concurrency
        );
        println!(
            "endpoint                      req/s     p50 µs   p90 µs   p99 µs   max µs   errors"
        );
        for (name, r) in [
            (
                format!(
                    "POST /validate ({}, {} B)",
                    fixture.name(),
                    fixture.body().len()
                ),
                &review,
            ),
            ("GET /healthz".to_string(), &health),
        ] {
            let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            println!(
                "{:<28} {:>8.0} {:>9} {:>8} {:>8} {:>8}   {}",
                name,
                r.requests_per_sec,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.max_us,
                if errors.is_empty() {
                    "0".to_string()
                } else {
                    errors.join(", ")
                }
            );
        }
        println!("admission/healthz throughput: {:.0}%", ratio * 100.0);
        if let Some(p) = peak {
            println!("server peak RSS: {}", bench::mib(p));
        }
    }
    let failed = review.errors.values().sum::<u64>() + health.errors.values().sum::<u64>();
    Ok(u8::from(failed > 0))
}
