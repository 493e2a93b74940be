//! Helpers shared by the integration tests: fixtures, fake node facts, and an
//! HTTPS client that speaks HTTP/1.1 or h2 over rustls.
#![allow(dead_code)]

pub mod served;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use longhorn_talos_guard::cluster::NodeFacts;
use longhorn_talos_guard::policy::Hugepages;
use longhorn_talos_guard::server::{self, CertSource, ServeOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A fresh folder holding a dev pair (`tls.crt`, `tls.key`, valid one day),
/// and the pair's CA.
pub fn dev_certs() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let certs =
        longhorn_talos_guard::certs::generate(&longhorn_talos_guard::certs::default_sans(), 1, 1)
            .unwrap();
    longhorn_talos_guard::certs::write(dir.path(), &certs).unwrap();
    (dir, certs.ca_pem.into_bytes())
}

/// The options of a test server on 127.0.0.1:0 serving the pair in
/// `cert_dir`: what `serve` ships with, but the files re-read every second.
/// Tests set what they exercise with `ServeOptions { .., ..serve_options(dir) }`.
pub fn serve_options(cert_dir: &Path) -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        certs: CertSource::Files {
            cert: cert_dir.join("tls.crt"),
            key: cert_dir.join("tls.key"),
        },
        config: Default::default(),
        max_body_bytes: server::DEFAULT_MAX_BODY_BYTES,
        drain_timeout: Duration::from_secs(5),
        reload_interval: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(5),
        max_connections: 64,
        limits: Default::default(),
    }
}

/// The path of a fixture file.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The six labels Longhorn's docs ask for on its namespace, written out from
/// the docs rather than taken from the policy, so that a wrong constant there
/// fails the tests.
pub const LONGHORN_LABELS: [(&str, &str); 6] = [
    ("pod-security.kubernetes.io/enforce", "privileged"),
    ("pod-security.kubernetes.io/enforce-version", "latest"),
    ("pod-security.kubernetes.io/audit", "privileged"),
    ("pod-security.kubernetes.io/audit-version", "latest"),
    ("pod-security.kubernetes.io/warn", "privileged"),
    ("pod-security.kubernetes.io/warn-version", "latest"),
];

/// The bytes of `tests/fixtures/admission/<name>.json`.
pub fn review_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(&format!("admission/{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every review fixture's name (the top level of tests/fixtures/admission), sorted.
pub fn review_fixture_names() -> Vec<String> {
    let dir = fixture_path("admission");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// The `request.object` of a review fixture.
pub fn fixture_object(name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&review_fixture(name)).unwrap();
    v["request"]["object"].clone()
}

/// Node facts answering the same hugepages for every node, after `delay`.
pub struct FakeFacts {
    pub answer: Hugepages,
    pub delay: Duration,
}

impl NodeFacts for FakeFacts {
    fn hugepages<'a>(
        &'a self,
        _node: &'a str,
    ) -> Pin<Box<dyn Future<Output = Hugepages> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.answer.clone()
        })
    }
}

/// Which HTTP version to negotiate with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    H2,
}

/// A rustls client config trusting the CA in `ca_pem`, offering `proto`.
pub fn client_config(ca_pem: &[u8], proto: Proto) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![match proto {
        Proto::Http1 => b"http/1.1".to_vec(),
        Proto::H2 => b"h2".to_vec(),
    }];
    Arc::new(config)
}

/// The answer of one HTTPS request, with the negotiated protocol and the
/// server's leaf certificate.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub alpn: Option<Vec<u8>>,
    pub leaf: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Opens a TLS connection to `addr` as `localhost`, trusting `ca_pem`, offering `proto`.
pub async fn tls_connect(
    addr: SocketAddr,
    ca_pem: &[u8],
    proto: Proto,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let connector = tokio_rustls::TlsConnector::from(client_config(ca_pem, proto));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}

/// Sends one request on a fresh TLS connection (so each call is a new handshake).
pub async fn https(
    addr: SocketAddr,
    ca_pem: &[u8],
    proto: Proto,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let tls = tls_connect(addr, ca_pem, proto).await?;
    let (_, session) = tls.get_ref();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let leaf = session.peer_certificates().unwrap()[0].to_vec();
    let io = TokioIo::new(tls);
    let request = Request::builder()
        .method(method)
        .uri(format!("https://localhost:{}{path}", addr.port()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = match proto {
        Proto::Http1 => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?
        }
        Proto::H2 => {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok(Answer {
        status,
        body,
        alpn,
        leaf,
    })
}

/// The address `serve --ready-file PATH` wrote, once it is there. The file
/// appears whole (it is renamed into place) or not at all.
pub fn read_ready_file(path: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    let addr = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{}: {text:?} lacks its newline", path.display()));
    Some(
        addr.parse()
            .unwrap_or_else(|e| panic!("{}: {addr:?}: {e}", path.display())),
    )
}

/// True when the tests run under CI (`CI` set to anything but empty, `0` or
/// `false`, the convention GitHub Actions, GitLab and `.ci/run` follow).
/// A switch that checks less (a partial e2e run, re-recording fixtures) is
/// an error there, never a quiet pass.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Whether an HTTP/2 request failed because the server's final GOAWAY
/// refused its stream (an ID above the GOAWAY's last stream ID, sent with
/// NO_ERROR while draining): RFC 9113 section 6.8, such a stream was never
/// processed and may be retried. hyper's client keeps opening streams after
/// the first GOAWAY of a graceful shutdown (h2 0.4 `Send::recv_go_away` only
/// lowers its limit to the last stream ID the GOAWAY names, and the first
/// names the maximum), so a request can land between the two; Go's HTTP/2
/// client, which kube-apiserver uses, opens none after the first and retries
/// refused ones. A stream the server accepted and then dropped ends with
/// another error, and is a failure.
fn refused_by_goaway(e: &hyper::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<h2::Error>())
        .is_some_and(|h| {
            h.is_go_away() && h.is_remote() && h.reason() == Some(h2::Reason::NO_ERROR)
        })
}

/// Sends valid reviews on keep-alive connections (reconnecting when the
/// server ends one) until `stop_at` or until a connection is refused; counts
/// answers with 200, answers carrying `Connection: close`, and failures:
/// every request sent that got no answer (dropped in flight) or another
/// status. A request hyper never wrote (the connection closed or a GOAWAY
/// came first) is not a failure: the server never accepted it.
pub async fn keep_alive_worker(
    addr: SocketAddr,
    ca: Vec<u8>,
    proto: Proto,
    stop_at: Instant,
) -> (u32, u32, Vec<String>) {
    let (mut ok, mut close, mut failed) = (0, 0, Vec::new());
    let body = Bytes::from(review_fixture("namespace-create-baseline"));
    while Instant::now() < stop_at {
        let Ok(tls) = tls_connect(addr, &ca, proto).await else {
            // Refused: the server has stopped accepting.
            break;
        };
        let io = TokioIo::new(tls);
        enum Sender {
            H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
            H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
        }
        let mut sender = match proto {
            Proto::Http1 => {
                let Ok((s, c)) = hyper::client::conn::http1::handshake(io).await else {
                    break;
                };
                tokio::spawn(c);
                Sender::H1(s)
            }
            Proto::H2 => {
                let Ok((s, c)) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await
                else {
                    break;
                };
                tokio::spawn(c);
                Sender::H2(s)
            }
        };
        while Instant::now() < stop_at {
            let req = hyper::Request::post(format!("https://localhost:{}/validate", addr.port()))
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .unwrap();
            let ready = match &mut sender {
                Sender::H1(s) => s.ready().await.is_ok(),
                Sender::H2(s) => s.ready().await.is_ok(),
            };
            if !ready {
                break; // closed between requests, nothing sent: reconnect
            }
            let sent = match &mut sender {
                Sender::H1(s) => s.try_send_request(req).await,
                Sender::H2(s) => s.try_send_request(req).await,
            };
            match sent {
                Ok(r) => {
                    let closes = r
                        .headers()
                        .get("connection")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    let status = r.status();
                    match r.into_body().collect().await {
                        Ok(_) if status == 200 => ok += 1,
                        Ok(_) => failed.push(format!("status {status}")),
                        Err(e) => failed.push(format!("body: {e}")),
                    }
                    if closes {
                        close += 1;
                        break;
                    }
                }
                Err(mut e) => {
                    if e.take_message().is_none() && !refused_by_goaway(e.error()) {
                        // The whole source chain: hyper's "http2 error" alone
                        // does not say how the stream ended.
                        failed.push(format!("{proto:?} sent, no answer: {:?}", e.error()));
                    }
                    break; // not sent (GOAWAY, closed): reconnect
                }
            }
        }
    }
    (ok, close, failed)
}

/// Writes to `out` the admin kubeconfig `admin` impersonating `user`
/// (`as:` under the admin's token), and returns `out`.
pub fn impersonating(
    admin: &std::path::Path,
    user: &str,
    out: std::path::PathBuf,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(admin).expect("read the admin kubeconfig");
    let token_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token: "))
        .expect("the admin kubeconfig has a token")
        .to_string();
    std::fs::write(
        &out,
        text.replace(&token_line, &format!("{token_line}\n      as: {user}")),
    )
    .expect("write the kubeconfig");
    out
}
