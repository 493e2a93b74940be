//! A recording webhook in the test process: HTTPS on 127.0.0.1 with a
//! certificate from the crate's own `certs::generate`, registered next to the
//! shipped webhooks with the same rules and selectors (`failurePolicy:
//! Ignore`), answering every review allowed and keeping every body it gets.
//!
//! A [`Session`] runs kubectl steps one at a time and names the bodies each
//! step produced. With `LTG_RECORD=1` it writes them, pretty-printed with
//! their key order and scalars as received, to
//! `tests/fixtures/admission/recorded/<step>.<endpoint>.json`, next to the
//! guard's live verdict in `<step>.<endpoint>.verdict`. Without it, it
//! compares the structure of the live bodies and the live verdicts with the
//! committed ones, and asserts the decoder's fast-path assumption: the API
//! server writes `request.kind` before `request.object` and `request.oldObject`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Version, header};
use axum::response::IntoResponse;
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::Env;
use super::controlplane::wait;
use super::guard;
use super::kubectl::Run;

/// The name of the recorder's webhook configurations. It sorts before
/// `longhorn-talos-guard`, so the API server calls the recording mutating
/// webhook before the guard's: it sees the object the guard's mutating
/// webhook sees, and the validating bodies show what the guard's patch made.
const CONFIG_NAME: &str = "e2e-recorder";

/// The path segment of the extra webhook that records DELETEs (the shipped
/// webhooks match no DELETE, so the guard never gets these live).
pub const DELETE_HOOK: &str = "deletes";

/// Where the recorded bodies are committed.
pub fn recorded_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission/recorded")
}

/// True when `LTG_RECORD=1`: write the bodies instead of comparing them.
/// Under CI it is an error: the recordings are what the run compares with,
/// so rewriting them there would compare the live bodies with themselves.
pub fn recording() -> bool {
    let on = std::env::var("LTG_RECORD").is_ok_and(|v| v == "1");
    assert!(
        !(on && crate::common::under_ci()),
        "LTG_RECORD=1 under CI: the recorded bodies are compared, never rewritten, in CI (unset it)"
    );
    on
}

/// One body the recorder got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The shipped webhook it stands for (e.g. `nodes.longhorn-talos-guard.io`),
    /// or [`DELETE_HOOK`].
    pub hook: String,
    /// `mutate` or `validate`.
    pub endpoint: String,
    /// The HTTP version the API server used.
    pub http: Version,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// The recording HTTPS server; dropping it stops the server.
pub struct Recorder {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA of its serving certificate (the configurations' caBundle).
    pub ca_pem: String,
    log: Log,
    // Dropped last: shuts the server down.
    _runtime: tokio::runtime::Runtime,
}

/// Answers allowed for the uid in `body` and keeps the body.
async fn record(
    State(log): State<Log>,
    Path((hook, endpoint)): Path<(String, String)>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let http = request.version();
    let body = match axum::body::to_bytes(request.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let uid = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["request"]["uid"].as_str().map(str::to_string))
        .unwrap_or_default();
    log.lock().unwrap().push(Received {
        hook,
        endpoint,
        http,
        body: body.to_vec(),
    });
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true},
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        review.to_string(),
    )
        .into_response()
}

impl Recorder {
    /// Starts the server on 127.0.0.1 with a fresh CA and serving pair
    /// (ALPN h2 and http/1.1: the API server picks).
    pub fn start() -> Recorder {
        let certs = longhorn_talos_guard::certs::generate(&["127.0.0.1".to_string()], 1, 1)
            .expect("generate the recorder's certificates");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(certs.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the recorder's certificate parses");
        let key = PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes())
            .expect("the recorder's key parses");
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the recorder's pair");
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime for the recorder");
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the recorder on 127.0.0.1");
        let addr = listener.local_addr().expect("the recorder's address");
        let log = Log::default();
        let app = Router::new()
            .route("/record/{hook}/{endpoint}", post(record))
            .with_state(log.clone());
        let server = {
            let _inside = runtime.enter();
            axum_server::tls_rustls::from_tcp_rustls(
                listener,
                RustlsConfig::from_config(Arc::new(tls)),
            )
            .expect("serve the recorder")
        };
        runtime.spawn(async move { server.serve(app.into_make_service()).await });
        Recorder {
            addr,
            ca_pem: certs.ca_pem,
            log,
            _runtime: runtime,
        }
    }

    /// Takes every body received so far.
    pub fn drain(&self) -> Vec<Received> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// The recorder's webhook configurations: the shipped ones (as
    /// `guard::webhook_list` renders them, so the rules, selectors and
    /// matchConditions are the shipped ones), renamed, `failurePolicy:
    /// Ignore`, each calling `/record/<shipped webhook name>/<endpoint>`;
    /// plus one validating webhook for DELETEs of Longhorn nodes and settings.
    pub fn configurations(&self, env: &Env) -> Value {
        let mut list = guard::webhook_list(&env.k, "unused", self.ca_pem.as_bytes());
        let bundle = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let items = list["items"].as_array_mut().expect("a List");
        let mut longhorn_namespace = Value::Null;
        for doc in items.iter_mut() {
            doc["metadata"] = json!({"name": CONFIG_NAME});
            for hook in doc["webhooks"].as_array_mut().expect("webhooks") {
                let shipped = hook["name"].as_str().expect("a webhook name").to_string();
                let url = hook["clientConfig"]["url"]
                    .as_str()
                    .expect("a url")
                    .to_string();
                let endpoint = url.rsplit('/').next().expect("a path").to_string();
                hook["name"] = json!(shipped.replace("longhorn-talos-guard.io", "e2e-recorder.io"));
                hook["clientConfig"] = json!({
                    "url": format!("https://{}/record/{shipped}/{endpoint}", self.addr),
                    "caBundle": bundle,
                });
                hook["failurePolicy"] = json!("Ignore");
                if shipped == "nodes.longhorn-talos-guard.io" {
                    longhorn_namespace = hook["namespaceSelector"].clone();
                }
            }
        }
        let validating = items
            .iter_mut()
            .find(|d| d["kind"] == "ValidatingWebhookConfiguration")
            .expect("a validating configuration");
        validating["webhooks"]
            .as_array_mut()
            .expect("webhooks")
            .push(json!({
                "name": "deletes.e2e-recorder.io",
                "clientConfig": {
                    "url": format!("https://{}/record/{DELETE_HOOK}/validate", self.addr),
                    "caBundle": bundle,
                },
                "rules": [{
                    "apiGroups": ["longhorn.io"],
                    "apiVersions": ["v1beta2"],
                    "operations": ["DELETE"],
                    "resources": ["nodes", "settings"],
                    "scope": "Namespaced",
                }],
                "namespaceSelector": longhorn_namespace,
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }));
        list
    }

    /// Applies [`Recorder::configurations`] and waits until the API server
    /// calls the recorder through both (a server-side dry run relabelling
    /// the Longhorn namespace reaches the mutating and the validating one);
    /// then forgets the probes.
    pub fn install(&self, env: &Env) {
        env.k
            .with_manifest(&["apply"], &self.configurations(env).to_string())
            .ok();
        let mut seen = (false, false);
        wait(
            "the API server to call the recorder",
            Duration::from_secs(30),
            || {
                env.k
                    .run(&[
                        "label",
                        "--overwrite",
                        "--dry-run=server",
                        "namespace",
                        "longhorn-system",
                        "e2e-recorder-probe=1",
                    ])
                    .ok();
                for r in self.drain() {
                    match r.endpoint.as_str() {
                        "mutate" => seen.0 = true,
                        "validate" => seen.1 = true,
                        _ => {}
                    }
                }
                seen == (true, true)
            },
        );
        self.drain();
    }

    /// Removes the recorder's configurations.
    pub fn uninstall(&self, env: &Env) {
        env.k
            .run(&[
                "delete",
                "mutatingwebhookconfiguration,validatingwebhookconfiguration",
                CONFIG_NAME,
            ])
            .ok();
    }
}

/// The entries of a JSON object in document order, values unparsed.
pub struct Entries(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Entries {
    /// Parses the object in `text`.
    pub fn parse(text: &str) -> Entries {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not a JSON object ({e}): {text}"))
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }
}

/// A JSON value that keeps its keys in document order and its scalars
/// (strings with their escapes, numbers) exactly as written.
enum Ordered {
    Scalar(Box<RawValue>),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    fn parse(raw: &RawValue) -> Ordered {
        match raw.get().trim_start().as_bytes().first() {
            Some(b'{') => Ordered::Object(
                Entries::parse(raw.get())
                    .0
                    .into_iter()
                    .map(|(k, v)| (k, Ordered::parse(&v)))
                    .collect(),
            ),
            Some(b'[') => {
                let items: Vec<Box<RawValue>> =
                    serde_json::from_str(raw.get()).expect("a JSON array");
                Ordered::Array(items.iter().map(|v| Ordered::parse(v)).collect())
            }
            _ => Ordered::Scalar(raw.to_owned()),
        }
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Scalar(raw) => raw.serialize(s),
            Ordered::Array(items) => s.collect_seq(items),
            Ordered::Object(entries) => s.collect_map(entries.iter().map(|(k, v)| (k, v))),
        }
    }
}

/// `body` pretty-printed, keys in the order received, scalars as received.
pub fn pretty(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).expect("the API server sends UTF-8");
    let raw: Box<RawValue> = serde_json::from_str(text).expect("the body is JSON");
    let mut out = serde_json::to_string_pretty(&Ordered::parse(&raw)).expect("serialises");
    out.push('\n');
    out
}

/// What the structure comparison looks at: the key order of the review and
/// of its request, and the kinds.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    top: Vec<String>,
    request: Vec<String>,
    operation: Value,
    kind: Value,
    resource: Value,
    object_kind: Value,
    old_object_kind: Value,
}

fn value(raw: Option<&RawValue>) -> Value {
    raw.map_or(Value::Null, |r| {
        serde_json::from_str(r.get()).expect("a JSON value")
    })
}

fn shape(name: &str, text: &str) -> Shape {
    let top = Entries::parse(text);
    let request = Entries::parse(
        top.get("request")
            .unwrap_or_else(|| panic!("{name}: no request"))
            .get(),
    );
    Shape {
        top: top.keys().iter().map(|k| k.to_string()).collect(),
        request: request.keys().iter().map(|k| k.to_string()).collect(),
        operation: value(request.get("operation")),
        kind: value(request.get("kind")),
        resource: value(request.get("resource")),
        object_kind: value(request.get("object"))["kind"].clone(),
        old_object_kind: value(request.get("oldObject"))["kind"].clone(),
    }
}

/// Panics unless `request.kind` comes before `request.object` and
/// `request.oldObject` (when present) in `text`.
pub fn assert_kind_first(name: &str, text: &str) {
    let s = shape(name, text);
    let at = |key: &str| s.request.iter().position(|k| k == key);
    let kind = at("kind").unwrap_or_else(|| panic!("{name}: request has no kind: {:?}", s.request));
    for field in ["object", "oldObject"] {
        if let Some(i) = at(field) {
            assert!(
                kind < i,
                "{name}: request.kind comes after request.{field}; the decoder's fast path assumes \
                 the API server writes kind first. Key order of request: {:?}",
                s.request
            );
        }
    }
}

/// The guard's live verdict on one body, as kubectl showed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveVerdict {
    /// The shipped webhook the body went to, or [`DELETE_HOOK`] for bodies
    /// only the recorder gets.
    pub hook: String,
    /// `allowed`, `patched` (mutate: the labels or annotations the
    /// validating webhooks saw differ from the ones the guard's mutating
    /// webhook got) or `denied`.
    pub decision: String,
    /// For `denied`: the message kubectl printed after `denied the request: `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP version the API server used to call the recorder.
    pub http: String,
}

/// One recorded body with its live verdict.
struct Recording {
    name: String,
    body: Vec<u8>,
    verdict: LiveVerdict,
}

/// A recording session: steps run in order, their bodies named and kept.
pub struct Session<'a> {
    recorder: &'a Recorder,
    out: Vec<Recording>,
}

/// The message after `admission webhook "<hook>" denied the request: ` in
/// kubectl's stderr, if the guard's `hook` denied.
fn denial(run: &Run, hook: &str) -> Option<String> {
    let prefix = format!("admission webhook \"{hook}\" denied the request: ");
    run.stderr
        .find(&prefix)
        .map(|i| run.stderr[i + prefix.len()..].trim_end().to_string())
}

impl<'a> Session<'a> {
    /// A session on an installed recorder.
    pub fn new(recorder: &'a Recorder) -> Session<'a> {
        recorder.drain();
        Session {
            recorder,
            out: Vec::new(),
        }
    }

    /// Takes the bodies `run` (the finished kubectl call of step `step`)
    /// produced, which must be exactly one per endpoint in `endpoints`, and
    /// names them `<step>.<endpoint>`. The kubectl call is done, so the API
    /// server has called every webhook it was going to.
    #[track_caller]
    pub fn step(&mut self, step: &str, run: &Run, endpoints: &[&str]) {
        let got = self.recorder.drain();
        let mut names: Vec<&str> = got.iter().map(|r| r.endpoint.as_str()).collect();
        names.sort_unstable();
        let mut want = endpoints.to_vec();
        want.sort_unstable();
        assert_eq!(
            names,
            want,
            "step {step}: the recorder got {} ({:?}); kubectl: {run}",
            got.len(),
            got.iter()
                .map(|r| format!("{}/{}", r.hook, r.endpoint))
                .collect::<Vec<_>>()
        );
        // What the guard's mutating webhook may patch: the labels and
        // annotations. (The rest differs anyway on a create: the API server
        // sets uid, creationTimestamp and finalizers between the mutating
        // and the validating webhooks.)
        let metadata = |endpoint: &str| {
            got.iter().find(|r| r.endpoint == endpoint).map(|r| {
                let review: Value = serde_json::from_slice(&r.body).expect("JSON");
                let meta = &review["request"]["object"]["metadata"];
                (meta["labels"].clone(), meta["annotations"].clone())
            })
        };
        for r in &got {
            let name = format!("{step}.{}", r.endpoint);
            let (decision, message) = if r.endpoint == "mutate" {
                // Only the guard's mutating webhook runs after the recorder's.
                let changed = metadata("validate").is_some_and(|v| Some(v) != metadata("mutate"));
                (if changed { "patched" } else { "allowed" }, None)
            } else {
                match denial(run, &r.hook) {
                    Some(m) => ("denied", Some(m)),
                    None => ("allowed", None),
                }
            };
            self.out.push(Recording {
                name,
                body: r.body.clone(),
                verdict: LiveVerdict {
                    hook: r.hook.clone(),
                    decision: decision.to_string(),
                    message,
                    http: format!("{:?}", r.http),
                },
            });
        }
    }

    /// Checks every body for the fast path's assumption, then writes them
    /// (`LTG_RECORD=1`) or compares them with the committed ones. Returns a
    /// line per body for the log.
    pub fn finish(self) -> String {
        let mut summary = String::new();
        for r in &self.out {
            let text = std::str::from_utf8(&r.body).expect("UTF-8");
            assert_kind_first(&r.name, text);
            let s = shape(&r.name, text);
            let _ = writeln!(
                summary,
                "{} {} {} {}: keys {:?}, request keys {:?}",
                r.name, r.verdict.http, s.operation, s.kind["kind"], s.top, s.request
            );
        }
        let dir = recorded_dir();
        if recording() {
            std::fs::create_dir_all(&dir).expect("make the recorded folder");
            for entry in std::fs::read_dir(&dir).expect("read the recorded folder") {
                let path = entry.expect("a folder entry").path();
                let ext = path.extension().and_then(|e| e.to_str());
                if matches!(ext, Some("json") | Some("verdict")) {
                    std::fs::remove_file(&path).expect("remove an old recording");
                }
            }
            for r in &self.out {
                std::fs::write(dir.join(format!("{}.json", r.name)), pretty(&r.body))
                    .expect("write a recorded body");
                let mut verdict =
                    serde_json::to_string_pretty(&r.verdict).expect("a verdict serialises");
                verdict.push('\n');
                std::fs::write(dir.join(format!("{}.verdict", r.name)), verdict)
                    .expect("write a verdict");
            }
            return summary;
        }

        let mut committed = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (record with LTG_RECORD=1)", dir.display()))
        {
            let path = entry.expect("a folder entry").path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .expect("a file name")
                    .to_string();
                committed.insert(name, path);
            }
        }
        let live: Vec<&str> = self.out.iter().map(|r| r.name.as_str()).collect();
        let mut live_sorted = live.clone();
        live_sorted.sort_unstable();
        assert_eq!(
            live_sorted,
            committed.keys().map(String::as_str).collect::<Vec<_>>(),
            "the live bodies and the committed ones in {} differ; re-record with LTG_RECORD=1",
            dir.display()
        );
        for r in &self.out {
            let path = &committed[&r.name];
            let text = std::fs::read_to_string(path).expect("read a committed body");
            let live = shape(&r.name, std::str::from_utf8(&r.body).expect("UTF-8"));
            let stored = shape(&r.name, &text);
            assert_eq!(
                live,
                stored,
                "{}: the live body's structure (left) differs from {} (right)",
                r.name,
                path.display()
            );
            let verdict_path = path.with_extension("verdict");
            let stored: LiveVerdict = serde_json::from_str(
                &std::fs::read_to_string(&verdict_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", verdict_path.display())),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", verdict_path.display()));
            assert_eq!(
                r.verdict,
                stored,
                "{}: the guard's live verdict (left) differs from {} (right)",
                r.name,
                verdict_path.display()
            );
        }
        summary
    }
}
