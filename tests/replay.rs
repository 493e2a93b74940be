//! Replays the AdmissionReview bodies a real kube-apiserver sent
//! (tests/fixtures/admission/recorded/, written by the e2e suite with
//! `LTG_RECORD=1`) through the router with no cluster: each answers 200 with
//! its uid, the verdict matches the guard's live verdict recorded next to
//! it, and decoding it gives the same typed request as decoding it with
//! `request.object` and `request.oldObject` moved before `request.kind`
//! (the decoder's slow path).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use longhorn_talos_guard::admission;
use longhorn_talos_guard::cluster::NoCluster;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::server::router::{AppState, DEFAULT_MAX_BODY_BYTES, router};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use tower::ServiceExt as _;

/// Every recorded body, by name, with the kind and operation it carries: the
/// folder must hold exactly these (a missing or extra recording fails).
const RECORDED: [(&str, &str, &str); 18] = [
    ("knode-update-annotation-bad.validate", "Node", "UPDATE"),
    ("knode-update-annotation.validate", "Node", "UPDATE"),
    ("lhnode-create.validate", "Node", "CREATE"),
    ("lhnode-delete.validate", "Node", "DELETE"),
    ("lhnode-update-bad-disk.validate", "Node", "UPDATE"),
    ("lhnode-update-disks.validate", "Node", "UPDATE"),
    (
        "namespace-create-baseline-dryrun.mutate",
        "Namespace",
        "CREATE",
    ),
    (
        "namespace-create-baseline-dryrun.validate",
        "Namespace",
        "CREATE",
    ),
    ("namespace-create.mutate", "Namespace", "CREATE"),
    ("namespace-create.validate", "Namespace", "CREATE"),
    ("namespace-update-label.mutate", "Namespace", "UPDATE"),
    ("namespace-update-label.validate", "Namespace", "UPDATE"),
    ("namespace-update-restricted.mutate", "Namespace", "UPDATE"),
    (
        "namespace-update-restricted.validate",
        "Namespace",
        "UPDATE",
    ),
    ("pod-create-bad-hostpath.validate", "Pod", "CREATE"),
    ("pod-create.validate", "Pod", "CREATE"),
    ("setting-create-bad-dryrun.validate", "Setting", "CREATE"),
    ("setting-update.validate", "Setting", "UPDATE"),
];

/// The guard's live verdict on a body, as the e2e recorder wrote it.
#[derive(serde::Deserialize, Debug)]
struct LiveVerdict {
    hook: String,
    decision: String,
    #[serde(default)]
    message: Option<String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission/recorded")
}

/// The recorded bodies' names (file stems of `*.json`), sorted.
fn recorded_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("{}: {e}", dir().display()))
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .expect("a file name")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verdict(name: &str) -> LiveVerdict {
    let path = dir().join(format!("{name}.verdict"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entries of a JSON object in document order, values unparsed.
struct Entries(Vec<(String, Box<RawValue>)>);

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

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Entries {
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// `body` with `request.object` and `request.oldObject` moved to the front
/// of the request, everything else (values byte for byte) kept in order.
fn object_first(body: &[u8]) -> Vec<u8> {
    let mut top: Entries = serde_json::from_slice(body).expect("a JSON object");
    let slot = top
        .0
        .iter_mut()
        .find(|(k, _)| k == "request")
        .expect("a request");
    let request: Entries = serde_json::from_str(slot.1.get()).expect("request is an object");
    let (mut moved, rest): (Vec<_>, Vec<_>) = request
        .0
        .into_iter()
        .partition(|(k, _)| k == "object" || k == "oldObject");
    moved.extend(rest);
    let request = Entries(moved);
    slot.1 = serde_json::value::to_raw_value(&request).expect("serialises");
    serde_json::to_vec(&top).expect("serialises")
}

async fn post(path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let app = router(
        AppState::new(Config::default(), Arc::new(NoCluster)),
        DEFAULT_MAX_BODY_BYTES,
    );
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

#[test]
fn the_recorded_bodies_are_the_expected_ones() {
    let names = recorded_names();
    let want: Vec<&str> = RECORDED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        names,
        want,
        "recorded bodies in {} (re-record with LTG_RECORD=1 cargo test --test e2e)",
        dir().display()
    );
    for (name, kind, operation) in RECORDED {
        let body: Value = serde_json::from_slice(&read(name)).unwrap();
        assert_eq!(body["request"]["kind"]["kind"], kind, "{name}");
        assert_eq!(body["request"]["operation"], operation, "{name}");
        let live = verdict(name);
        assert!(
            ["allowed", "patched", "denied"].contains(&live.decision.as_str()),
            "{name}: {live:?}"
        );
        assert_eq!(live.message.is_some(), live.decision == "denied", "{name}");
    }
}

#[tokio::test]
async fn recorded_bodies_get_the_live_verdict() {
    let mut decisions = Vec::new();
    for name in recorded_names() {
        let body = read(&name);
        let review: Value = serde_json::from_slice(&body).unwrap();
        let live = verdict(&name);
        let endpoint = if name.ends_with(".mutate") {
            "/mutate"
        } else {
            "/validate"
        };
        let (status, out) = post(endpoint, body).await;
        assert_eq!(status, StatusCode::OK, "{name}: {out}");
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1", "{name}");
        assert_eq!(out["kind"], "AdmissionReview", "{name}");
        let response = &out["response"];
        assert_eq!(
            response["uid"], review["request"]["uid"],
            "{name}: uid echo"
        );
        match live.decision.as_str() {
            "denied" => {
                assert_eq!(response["allowed"], false, "{name}: {response}");
                assert_eq!(response["status"]["code"], 403, "{name}");
                assert_eq!(response["status"]["reason"], "Forbidden", "{name}");
                assert_eq!(
                    response["status"]["message"].as_str(),
                    live.message.as_deref(),
                    "{name}: the message kubectl printed live ({})",
                    live.hook
                );
            }
            "allowed" => {
                assert_eq!(response["allowed"], true, "{name}: {response}");
                assert!(response.get("status").is_none(), "{name}: {response}");
                assert!(response.get("patch").is_none(), "{name}: {response}");
            }
            "patched" => {
                assert_eq!(response["allowed"], true, "{name}: {response}");
                assert_eq!(response["patchType"], "JSONPatch", "{name}");
                let ops = base64::engine::general_purpose::STANDARD
                    .decode(response["patch"].as_str().expect("a base64 patch"))
                    .unwrap();
                let patch: json_patch::Patch = serde_json::from_slice(&ops).unwrap();
                let mut object = review["request"]["object"].clone();
                json_patch::patch(&mut object, &patch).expect("the patch applies");
                // The validating webhooks of the same request saw the object
                // after the guard's live patch: this patch makes the same
                // labels and annotations (the API server fills in uid,
                // creationTimestamp and finalizers of a create in between).
                let after: Value =
                    serde_json::from_slice(&read(&name.replace(".mutate", ".validate")))
                        .expect("the validating body of the same request");
                let after = &after["request"]["object"]["metadata"];
                for field in ["labels", "annotations"] {
                    assert_eq!(
                        object["metadata"][field], after[field],
                        "{name}: metadata.{field} after the replayed patch (left) and live (right)"
                    );
                }
            }
            other => panic!("{name}: unknown decision {other}"),
        }
        decisions.push(live.decision);
    }
    // The recordings exercise every kind of answer.
    for decision in ["allowed", "patched", "denied"] {
        assert!(
            decisions.iter().any(|d| d == decision),
            "no recorded body was {decision}: {decisions:?}"
        );
    }
}

/// Ok when `request.kind` comes before `request.object` and
/// `request.oldObject` (both present) among the request's `keys`.
fn kind_first(keys: &[&str]) -> Result<(), String> {
    let at = |key: &str| keys.iter().position(|k| *k == key);
    let kind = at("kind").ok_or_else(|| format!("no request.kind: {keys:?}"))?;
    for field in ["object", "oldObject"] {
        let i = at(field).ok_or_else(|| format!("no request.{field}: {keys:?}"))?;
        if i < kind {
            return Err(format!("request.kind after request.{field}: {keys:?}"));
        }
    }
    Ok(())
}

#[test]
fn fast_and_slow_decoding_agree_on_real_bodies() {
    for name in recorded_names() {
        let body = read(&name);
        let top: Entries = serde_json::from_slice(&body).unwrap();
        let request: Entries = serde_json::from_str(
            top.0
                .iter()
                .find(|(k, _)| k == "request")
                .map(|(_, v)| v.get())
                .expect("a request"),
        )
        .unwrap();
        kind_first(&request.keys()).unwrap_or_else(|e| panic!("{name}: {e}"));

        let moved = object_first(&body);
        let moved_request: Value = serde_json::from_slice(&moved).unwrap();
        assert_eq!(
            moved_request,
            serde_json::from_slice::<Value>(&body).unwrap(),
            "{name}: reordering changes no value"
        );
        let moved_keys = {
            let top: Entries = serde_json::from_slice(&moved).unwrap();
            let request: Entries =
                serde_json::from_str(top.0.iter().find(|(k, _)| k == "request").unwrap().1.get())
                    .unwrap();
            request
                .keys()
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            &moved_keys[..3],
            ["object", "oldObject", "uid"],
            "{name}: object and oldObject come first"
        );
        let moved_keys: Vec<&str> = moved_keys.iter().map(String::as_str).collect();
        assert!(
            kind_first(&moved_keys).is_err(),
            "{name}: the reordered body takes the slow path"
        );

        let fast = admission::decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let slow = admission::decode(&moved).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(fast.request.is_some(), "{name}: a kind the guard handles");
        assert_eq!(fast, slow, "{name}: fast and slow paths differ");
    }
}
