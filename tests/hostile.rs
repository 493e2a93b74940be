//! Limits and hostile input on the real TLS server: every bad request is
//! followed by a valid review that must still succeed; slow and greedy
//! clients; drain and certificate rotation under load; slow node look-ups.

mod common;
/// The load generator of `bench http`, compiled here from its one source so
/// that these tests need neither the `bench` feature nor a copy of it.
#[allow(dead_code)]
#[path = "../src/cli/bench/load.rs"]
mod load;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use common::{FakeFacts, Proto, https, review_fixture};
use load::LoadOptions;
use longhorn_talos_guard::cluster::{KubeNodes, NodeFacts};
use longhorn_talos_guard::policy::Hugepages;
use longhorn_talos_guard::server::{self, Running, ServeOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const MAX_BODY: usize = 1 << 20;

struct Server {
    running: Running,
    ca: Vec<u8>,
    _dir: tempfile::TempDir,
}

async fn start(
    facts: Arc<dyn NodeFacts>,
    max_connections: usize,
    header_timeout: Duration,
) -> Server {
    let (dir, ca) = common::dev_certs();
    let opts = ServeOptions {
        max_body_bytes: MAX_BODY,
        header_read_timeout: header_timeout,
        max_connections,
        ..common::serve_options(dir.path())
    };
    let running = server::start(&opts, facts).await.unwrap();
    Server {
        running,
        ca,
        _dir: dir,
    }
}

fn plenty() -> Arc<dyn NodeFacts> {
    Arc::new(FakeFacts {
        answer: Hugepages::Known(4 << 30),
        delay: Duration::ZERO,
    })
}

async fn valid_review_succeeds(addr: SocketAddr, ca: &[u8]) {
    let a = https(
        addr,
        ca,
        Proto::Http1,
        "POST",
        "/validate",
        review_fixture("namespace-create-baseline"),
    )
    .await
    .expect("the server still answers");
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["response"]["status"]["code"], 403);
}

fn review_of(object: Value, group: &str, kind: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "hostile", "kind": {"group": group, "version": "v1", "kind": kind}, "operation": "CREATE",
        "name": object["metadata"]["name"], "namespace": object["metadata"]["namespace"].as_str().unwrap_or(""),
        "userInfo": {"username": "u"}, "object": object}}))
    .unwrap()
}

/// Sends raw bytes as the body of a POST with an explicit content type (or none).
async fn raw_post(
    addr: SocketAddr,
    ca: &[u8],
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut tls = common::tls_connect(addr, ca, Proto::Http1).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    // The server may answer 413 and close before the whole body is written.
    let _ = tls.write_all(body).await;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn hostile_input_matrix() {
    let _serial = serial().await;
    let s = start(plenty(), 64, Duration::from_secs(5)).await;
    let (addr, ca) = (s.running.local_addr, s.ca.clone());
    let json = Some("application/json");

    // 10,000 nested arrays in a field the decoder skips, inside an otherwise valid review.
    let deep = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"d","kind":{{"kind":"Namespace"}},"operation":"CREATE","object":{{"metadata":{{"name":"x"}},"spec":{}{}}}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_labels = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"d","kind":{{"kind":"Namespace"}},"operation":"CREATE","object":{{"metadata":{{"name":"longhorn-system","labels":{{"a":{}{}}}}}}}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let valid = review_fixture("namespace-create-baseline");
    let truncated = valid[..valid.len() / 2].to_vec();
    let labels: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("example.com/label-{i}"), Value::from("x")))
        .collect();
    let many_labels = review_of(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "longhorn-system", "labels": labels}}),
        "",
        "Namespace",
    );
    let disks: serde_json::Map<String, Value> = (0..1_000)
        .map(|i| {
            let path = if i % 2 == 0 {
                format!("/var/lib/longhorn/d{i}")
            } else {
                format!("/mnt/d{i}")
            };
            (
                format!("disk-{i}"),
                json!({"path": path, "diskType": "filesystem"}),
            )
        })
        .collect();
    let many_disks = review_of(
        json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Node",
            "metadata": {"name": "worker-1", "namespace": "longhorn-system"}, "spec": {"disks": disks}}),
        "longhorn.io",
        "Node",
    );

    // (case, path, content type, body, expected status, text expected in the answer)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            "/validate",
            json,
            b"{{{{".to_vec(),
            400,
            "body is not an AdmissionReview",
        ),
        (
            "truncated JSON",
            "/validate",
            json,
            truncated,
            400,
            "EOF while parsing",
        ),
        (
            "nested 10,000 deep, skipped field",
            "/validate",
            json,
            deep.into_bytes(),
            200,
            "\"allowed\":true",
        ),
        (
            "nested 10,000 deep, read field",
            "/validate",
            json,
            deep_labels.into_bytes(),
            400,
            "request.object is not a valid Namespace",
        ),
        (
            "over the body limit",
            "/validate",
            json,
            vec![b' '; MAX_BODY + 1],
            413,
            "",
        ),
        (
            "missing content type",
            "/validate",
            None,
            valid.clone(),
            415,
            "Content-Type must be application/json",
        ),
        ("unknown path", "/nope", json, valid.clone(), 404, ""),
        (
            "non-UTF-8 bytes",
            "/validate",
            json,
            vec![0xc3, 0x28, 0xff, 0xfe],
            400,
            "body is not an AdmissionReview",
        ),
        (
            "empty body",
            "/validate",
            json,
            Vec::new(),
            400,
            "EOF while parsing",
        ),
        (
            "10,000 labels",
            "/validate",
            json,
            many_labels,
            200,
            "\"allowed\":false",
        ),
        (
            "1,000 disks",
            "/validate",
            json,
            many_disks,
            200,
            "500 disk problems",
        ),
    ];
    for (case, path, ct, body, status, text) in cases {
        let (got, answer) = raw_post(addr, &ca, path, ct, &body).await;
        assert_eq!(got, status, "{case}: {}", &answer[..answer.len().min(300)]);
        assert!(
            answer.contains(text),
            "{case}: {}",
            &answer[..answer.len().min(300)]
        );
        valid_review_succeeds(addr, &ca).await;
    }
    let wrong_method = https(addr, &ca, Proto::Http1, "GET", "/validate", vec![])
        .await
        .unwrap();
    assert_eq!(wrong_method.status, 405);
    valid_review_succeeds(addr, &ca).await;
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_header_client_is_cut_off_and_others_keep_their_latency() {
    let _serial = serial().await;
    let s = start(plenty(), 64, Duration::from_secs(1)).await;
    let (addr, ca) = (s.running.local_addr, s.ca.clone());
    let slow = {
        let ca = ca.clone();
        tokio::spawn(async move {
            let mut tls = common::tls_connect(addr, &ca, Proto::Http1).await.unwrap();
            let start = Instant::now();
            for b in
                b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    .iter()
            {
                if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
                    return start.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                // A closed connection shows up as a read of 0 bytes.
                let mut buf = [0u8; 1];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(1), tls.read(&mut buf)).await
                {
                    return start.elapsed();
                }
            }
            start.elapsed()
        })
    };
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        valid_review_succeeds(addr, &ca).await;
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cut_after = slow.await.unwrap();
    assert!(
        cut_after < Duration::from_secs(4),
        "the slow client was cut off after {cut_after:?}"
    );
    eprintln!("beside the slow client: others' worst latency {worst:?}, cut after {cut_after:?}");
    assert!(
        worst < Duration::from_millis(500),
        "others' worst latency {worst:?}"
    );
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_connection_at_the_cap_sheds_the_oldest_idle_one() {
    let _serial = serial().await;
    let s = start(plenty(), 4, Duration::from_secs(5)).await;
    let (addr, ca) = (s.running.local_addr, s.ca.clone());
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            common::tls_connect(addr, &ca, Proto::Http1)
                .await
                .expect("within the cap"),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A fifth connection gets in and is served; the oldest idle one is closed.
    valid_review_succeeds(addr, &ca).await;
    let mut buf = [0u8; 1];
    let oldest = tokio::time::timeout(Duration::from_secs(2), held[0].read(&mut buf)).await;
    assert!(
        matches!(oldest, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest idle connection is closed: {oldest:?}"
    );
    assert!(s.running.open_connections() <= 4);
    s.running.shutdown().await.unwrap();
}

/// The Longhorn-manager-like pod CREATE, compact as the API server sends it.
fn pod_review() -> Bytes {
    let v: Value = serde_json::from_slice(&review_fixture("pod-create-longhorn-manager")).unwrap();
    Bytes::from(serde_json::to_vec(&v).unwrap())
}

fn load_options(addr: SocketAddr, ca: &[u8], seconds: f64) -> LoadOptions {
    LoadOptions {
        addr,
        server_name: "localhost".into(),
        ca_pem: ca.to_vec(),
        concurrency: 4,
        duration: Duration::from_secs_f64(seconds),
        warmup: Duration::ZERO,
        proto: load::Proto::Http1,
    }
}

/// Shutdown under keep-alive load on HTTP/1.1 and HTTP/2: every request the
/// server accepted is answered with 200. A request sent and never answered
/// (dropped in flight, the connection cut under it) is a failure, not only
/// an error status; what is not sent (refused, closed between requests,
/// after a GOAWAY) is not a request the server accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_under_load_answers_every_accepted_request() {
    let _serial = serial().await;
    let s = start(plenty(), 64, Duration::from_secs(5)).await;
    let (addr, ca) = (s.running.local_addr, s.ca.clone());
    let stop_at = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let proto = if i % 2 == 0 { Proto::Http1 } else { Proto::H2 };
            tokio::spawn(common::keep_alive_worker(addr, ca.clone(), proto, stop_at))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let state = s.running.state.clone();
    let t = Instant::now();
    s.running.shutdown().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stopped within the drain time"
    );
    assert!(
        state
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let (mut ok, mut failed) = (0, Vec::new());
    for w in workers {
        let (o, _, f) = w.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(ok > 50, "{ok} answers");
    assert!(
        failed.is_empty(),
        "{} accepted requests not answered with 200: {failed:?}",
        failed.len()
    );
}

#[tokio::test]
async fn certificate_rotation_under_load_fails_no_request() {
    let _serial = serial().await;
    let s = start(plenty(), 64, Duration::from_secs(5)).await;
    let addr = s.running.local_addr;
    let dir = s.running.certs.files()[0].parent().unwrap().to_path_buf();
    // Ten new pairs, each from its own CA; the client trusts all of them.
    let sets: Vec<_> = (0..10)
        .map(|_| {
            longhorn_talos_guard::certs::generate(
                &longhorn_talos_guard::certs::default_sans(),
                1,
                1,
            )
            .unwrap()
        })
        .collect();
    let mut trust = s.ca.clone();
    for set in &sets {
        trust.extend_from_slice(set.ca_pem.as_bytes());
    }
    // Ten replacements spread over LTG_SOAK_SECONDS (3 s in the test suite;
    // the documented long run uses 20).
    let soak: f64 = std::env::var("LTG_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let step = Duration::from_secs_f64(soak / 10.0);
    let rotations = tokio::spawn(async move {
        for set in &sets {
            tokio::time::sleep(step).await;
            replace(&dir, "tls.crt", &set.cert_pem);
            replace(&dir, "tls.key", &set.key_pem);
        }
        sets
    });
    // Short runs back to back: new connections, so new handshakes see each certificate.
    let opts = load_options(addr, &trust, 0.4);
    let mut report = load::LoadReport::default();
    while !rotations.is_finished() {
        let r = load::load(&opts, "/validate", Some(pod_review()))
            .await
            .unwrap();
        report.requests += r.requests;
        for (k, v) in r.errors {
            *report.errors.entry(k).or_default() += v;
        }
    }
    let sets = rotations.await.unwrap();
    assert!(report.requests > 100, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    // The last pair is the one served now.
    let leaf = https(
        addr,
        sets[9].ca_pem.as_bytes(),
        Proto::Http1,
        "GET",
        "/healthz",
        vec![],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut ok = leaf.is_ok();
    while !ok && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok = https(
            addr,
            sets[9].ca_pem.as_bytes(),
            Proto::Http1,
            "GET",
            "/healthz",
            vec![],
        )
        .await
        .is_ok();
    }
    assert!(ok, "the last certificate is served");
    s.running.shutdown().await.unwrap();
}

fn replace(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A TCP server that accepts connections and never answers, standing in for
/// an API server that hangs.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

fn kube_nodes(url: &str, timeout: Duration) -> Arc<dyn NodeFacts> {
    let config = kube::Config::new(url.parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    Arc::new(KubeNodes::new(client, timeout, Duration::from_secs(30)))
}

#[tokio::test]
async fn slow_or_down_api_server_delays_only_the_reviews_that_need_it() {
    let _serial = serial().await;
    let hole = black_hole().await;
    let s = start(
        kube_nodes(&format!("http://{hole}"), Duration::from_millis(400)),
        64,
        Duration::from_secs(5),
    )
    .await;
    let (addr, ca) = (s.running.local_addr, s.ca.clone());

    let block = {
        let ca = ca.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let a = https(
                addr,
                &ca,
                Proto::Http1,
                "POST",
                "/validate",
                review_fixture("lhnode-create-block"),
            )
            .await
            .unwrap();
            (t.elapsed(), a.json())
        })
    };
    // Meanwhile, reviews that need no look-up keep their latency.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    valid_review_succeeds(addr, &ca).await;
    let beside = t.elapsed();
    let (took, answer) = block.await.unwrap();
    eprintln!("beside a stuck look-up: a review took {beside:?}; the look-up's review {took:?}");
    assert!(beside < Duration::from_millis(300), "{beside:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(answer["response"]["allowed"], true);
    let warning = answer["response"]["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("hugepages not verified") && warning.contains("timed out after 400ms"),
        "{warning}"
    );
    s.running.shutdown().await.unwrap();

    // An API server that refuses connections: the answer says the look-up failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = start(
        kube_nodes(&format!("http://{closed}"), Duration::from_millis(400)),
        64,
        Duration::from_secs(5),
    )
    .await;
    let a = https(
        s.running.local_addr,
        &s.ca,
        Proto::Http1,
        "POST",
        "/validate",
        review_fixture("lhnode-create-block"),
    )
    .await
    .unwrap();
    let warning = a.json()["response"]["warnings"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(warning.contains("Node look-up failed"), "{warning}");
    s.running.shutdown().await.unwrap();
}

/// Takes the lock that runs the tests of this binary one at a time: several
/// bound latencies (others' worst under 500 ms beside a slow client, a look-up
/// cut at 400 ms), which a CPU-heavy sibling on the same two cores would
/// stretch into flakes.
/// (An async lock: each test has its own runtime, and tokio's Mutex needs
/// none, so one static serves them all.)
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}
