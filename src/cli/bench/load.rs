//! The HTTPS load generator of `bench http`: keep-alive connections, one
//! request in flight each, latency percentiles and failures by kind. It
//! depends on nothing of the binary, so the integration tests (tests/hostile.rs)
//! compile this same file, with or without the `bench` feature.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;

/// The HTTP version of `bench http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// HTTP/1.1 with keep-alive, as the API server calls in-cluster webhooks.
    Http1,
    /// HTTP/2.
    Http2,
}

impl std::fmt::Display for Proto {
    /// The protocol's own name: `HTTP/1.1` or `HTTP/2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Http1 => "HTTP/1.1",
            Proto::Http2 => "HTTP/2",
        })
    }
}

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server.
    pub addr: SocketAddr,
    /// The TLS server name to verify.
    pub server_name: String,
    /// PEM CA the server's certificate chains to.
    pub ca_pem: Vec<u8>,
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// HTTP version.
    pub proto: Proto,
}

/// Figures of one load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Successful requests.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_sec: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest request.
    pub max_us: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
}

/// One client connection.
pub struct Conn {
    h1: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    h2: Option<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
}

/// Opens a connection: TCP, TLS as `server_name`, then the HTTP handshake.
/// Failures are reported by kind (`connect`, `tls`, `http`).
pub async fn connect(opts: &LoadOptions, tls: &tokio_rustls::TlsConnector) -> Result<Conn, String> {
    let tcp = tokio::net::TcpStream::connect(opts.addr)
        .await
        .map_err(|_| "connect".to_string())?;
    tcp.set_nodelay(true).map_err(|_| "connect".to_string())?;
    let name = ServerName::try_from(opts.server_name.clone()).map_err(|_| "tls".to_string())?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|_| "tls".to_string())?;
    let io = TokioIo::new(stream);
    match opts.proto {
        Proto::Http1 => {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|_| "http".to_string())?;
            tokio::spawn(conn);
            Ok(Conn {
                h1: Some(sender),
                h2: None,
            })
        }
        Proto::Http2 => {
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| "http".to_string())?;
            tokio::spawn(conn);
            Ok(Conn {
                h1: None,
                h2: Some(sender),
            })
        }
    }
}

/// Sends one request and reads the whole answer; a non-2xx status is a
/// failure of kind `status N`.
pub async fn send(conn: &mut Conn, req: hyper::Request<Full<Bytes>>) -> Result<(), String> {
    let resp = if let Some(s) = conn.h1.as_mut() {
        s.ready().await.map_err(|_| "http".to_string())?;
        s.send_request(req).await
    } else if let Some(s) = conn.h2.as_mut() {
        s.ready().await.map_err(|_| "http".to_string())?;
        s.send_request(req).await
    } else {
        return Err("http".into());
    }
    .map_err(|_| "http".to_string())?;
    let status = resp.status();
    resp.into_body()
        .collect()
        .await
        .map_err(|_| "http".to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {}", status.as_u16()))
    }
}

/// Runs `concurrency` keep-alive connections against `path` (a POST of
/// `body`, or a GET without one) and measures them.
pub async fn load(
    opts: &LoadOptions,
    path: &str,
    body: Option<Bytes>,
) -> anyhow::Result<LoadReport> {
    let tls = tokio_rustls::TlsConnector::from(client_config(&opts.ca_pem, opts.proto)?);
    let uri: hyper::Uri =
        format!("https://{}:{}{path}", opts.server_name, opts.addr.port()).parse()?;
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let stop = measure_from + opts.duration;
    let mut tasks = Vec::with_capacity(opts.concurrency);
    for _ in 0..opts.concurrency {
        let opts = opts.clone();
        let tls = tls.clone();
        let uri = uri.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut conn: Option<Conn> = None;
            while Instant::now() < stop {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match connect(&opts, &tls).await {
                        Ok(c) => conn.insert(c),
                        Err(kind) => {
                            *errors.entry(kind).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let mut builder = hyper::Request::builder().uri(uri.clone());
                if opts.proto == Proto::Http1 {
                    builder = builder.header(hyper::header::HOST, opts.server_name.as_str());
                }
                let req = match &body {
                    Some(b) => builder
                        .method("POST")
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(b.clone())),
                    None => builder.method("GET").body(Full::new(Bytes::new())),
                }
                .expect("a request from valid parts");
                let sent = Instant::now();
                let result = send(c, req).await;
                let done = Instant::now();
                if sent < measure_from || done > stop {
                    if result.is_err() {
                        conn = None;
                    }
                    continue;
                }
                match result {
                    Ok(()) => {
                        latencies.push((done - sent).as_micros().min(u32::MAX as u128) as u32)
                    }
                    Err(kind) => {
                        *errors.entry(kind).or_default() += 1;
                        conn = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = BTreeMap::new();
    for t in tasks {
        let (lat, err) = t.await?;
        all.extend(lat);
        for (k, v) in err {
            *errors.entry(k).or_default() += v;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        u64::from(all[i])
    };
    Ok(LoadReport {
        requests: all.len() as u64,
        requests_per_sec: all.len() as f64 / opts.duration.as_secs_f64(),
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: all.last().copied().map_or(0, u64::from),
        errors,
    })
}

/// A rustls client trusting the certificates in `ca_pem`, offering `proto` by ALPN.
pub fn client_config(ca_pem: &[u8], proto: Proto) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("CA file holds an invalid certificate")?)?;
    }
    if roots.is_empty() {
        bail!("the CA file holds no certificate");
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(longhorn_talos_guard::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![match proto {
        Proto::Http1 => b"http/1.1".to_vec(),
        Proto::Http2 => b"h2".to_vec(),
    }];
    Ok(Arc::new(config))
}
