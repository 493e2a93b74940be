//! The router driven in-process with AdmissionReview fixtures: the wire format
//! the API server reads (uid echo, 403/Forbidden, base64 patch), the policies
//! end to end, and the refusals of unreadable bodies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::{FakeFacts, LONGHORN_LABELS, fixture_object, review_fixture};
use http_body_util::BodyExt as _;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::policy::Hugepages;
use longhorn_talos_guard::server::router::{AppState, router};
use serde_json::Value;
use tower::ServiceExt as _;

fn app_with(config: Config, hugepages: Hugepages) -> Router {
    let facts = Arc::new(FakeFacts {
        answer: hugepages,
        delay: Duration::ZERO,
    });
    router(AppState::new(config, facts), 64 * 1024)
}

fn app() -> Router {
    app_with(Config::default(), Hugepages::Known(2 << 30))
}

async fn post(
    app: &Router,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method("POST").uri(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

/// Posts a fixture and returns the `response` of the review, after checking
/// the envelope and the uid echo.
async fn review(app: &Router, path: &str, fixture: &str) -> Value {
    let body = review_fixture(fixture);
    let uid = serde_json::from_slice::<Value>(&body).unwrap()["request"]["uid"].clone();
    let (status, out) = post(app, path, Some("application/json"), body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{fixture}: {}",
        String::from_utf8_lossy(&out)
    );
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(out["kind"], "AdmissionReview");
    assert_eq!(out["response"]["uid"], uid, "{fixture}: uid echo");
    if path == "/validate" {
        assert!(
            out["response"].get("patch").is_none(),
            "a validating answer never patches"
        );
    }
    out["response"].clone()
}

fn assert_denied(resp: &Value, fragments: &[&str]) {
    assert_eq!(resp["allowed"], false, "{resp}");
    assert_eq!(resp["status"]["code"], 403);
    assert_eq!(resp["status"]["reason"], "Forbidden");
    let msg = resp["status"]["message"].as_str().unwrap();
    for f in fragments {
        assert!(msg.contains(f), "missing {f:?} in {msg}");
    }
}

fn assert_allowed(resp: &Value) {
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("status").is_none(), "{resp}");
}

/// Applies the base64 JSON Patch of a mutating answer to the fixture's object.
fn apply_patch(resp: &Value, fixture: &str) -> Value {
    assert_eq!(resp["patchType"], "JSONPatch");
    let b64 = resp["patch"]
        .as_str()
        .expect("patch must be a base64 string");
    let ops = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&ops).unwrap();
    let mut doc = fixture_object(fixture);
    json_patch::patch(&mut doc, &patch)
        .expect("the patch applies to the object it was computed from");
    doc
}

#[tokio::test]
async fn mutate_adds_the_six_labels() {
    let app = app();
    for fixture in [
        "namespace-create-unlabelled",
        "namespace-create-no-labels-map",
    ] {
        let resp = review(&app, "/mutate", fixture).await;
        assert_allowed(&resp);
        let doc = apply_patch(&resp, fixture);
        for (k, v) in LONGHORN_LABELS {
            assert_eq!(doc["metadata"]["labels"][k], v, "{fixture}: {k}");
        }
        // The patched object now passes validation.
        let mut reviewed: Value = serde_json::from_slice(&review_fixture(fixture)).unwrap();
        reviewed["request"]["object"] = doc.clone();
        let (status, out) = post(
            &app,
            "/validate",
            Some("application/json"),
            serde_json::to_vec(&reviewed).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_allowed(&serde_json::from_slice::<Value>(&out).unwrap()["response"]);
        // Mutating the patched object again changes nothing (idempotent).
        let (_, again) = post(
            &app,
            "/mutate",
            Some("application/json"),
            serde_json::to_vec(&reviewed).unwrap(),
        )
        .await;
        assert!(
            serde_json::from_slice::<Value>(&again).unwrap()["response"]
                .get("patch")
                .is_none()
        );
    }
}

#[tokio::test]
async fn mutate_keeps_the_users_value() {
    let resp = review(&app(), "/mutate", "namespace-create-baseline").await;
    let doc = apply_patch(&resp, "namespace-create-baseline");
    assert_eq!(
        doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    assert_eq!(
        doc["metadata"]["labels"]["pod-security.kubernetes.io/audit"],
        "privileged"
    );
}

#[tokio::test]
async fn namespace_validation_over_the_wire() {
    let app = app();
    assert_denied(
        &review(&app, "/validate", "namespace-create-baseline").await,
        &[
            "namespace \"longhorn-system\"",
            "is \"baseline\"",
            "pod-security.kubernetes.io/enforce=privileged",
        ],
    );
    assert_denied(
        &review(&app, "/validate", "namespace-update-restricted").await,
        &["is \"restricted\""],
    );
    assert_denied(
        &review(&app, "/validate", "namespace-create-unlabelled").await,
        &["is missing, so the cluster default \"baseline\" applies"],
    );
    assert_allowed(&review(&app, "/validate", "namespace-create-privileged-dryrun").await);
    assert_allowed(&review(&app, "/validate", "namespace-delete").await);
    assert_allowed(&review(&app, "/validate", "namespace-create-other").await);
    assert!(
        review(&app, "/mutate", "namespace-create-other")
            .await
            .get("patch")
            .is_none()
    );
}

#[tokio::test]
async fn longhorn_node_disks_over_the_wire() {
    let app = app();
    assert_allowed(&review(&app, "/validate", "lhnode-create-good").await);
    let resp = review(&app, "/validate", "lhnode-update-bad-disks").await;
    assert_denied(
        &resp,
        &[
            "Longhorn node \"worker-1\": 2 disk problems:",
            "disk \"data2\": path \"/mnt/data2\" is on Talos's read-only root filesystem",
            "disk \"scratch\": path \"/var/lib/longhorn/../../../tmp\" is on the tmpfs /tmp",
            "a Talos UserVolumeConfig",
        ],
    );
    assert!(
        !resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("default-disk-fd0000000000")
    );

    let resp = review(&app, "/validate", "lhnode-update-preexisting").await;
    assert_allowed(&resp);
    assert_eq!(
        resp["warnings"][0],
        "node worker-2 disk legacy: existing path \"/mnt/sdb\" fails or loses data on Talos"
    );
}

#[tokio::test]
async fn block_disk_uses_the_node_lookup() {
    let enough = app_with(Config::default(), Hugepages::Known(2 << 30));
    assert_allowed(&review(&enough, "/validate", "lhnode-create-block").await);

    let none = app_with(Config::default(), Hugepages::Known(0));
    assert_denied(
        &review(&none, "/validate", "lhnode-create-block").await,
        &[
            "node \"worker-3\", which reports no hugepages-2Mi",
            "vm.nr_hugepages: \"1024\"",
        ],
    );

    let down = app_with(
        Config::default(),
        Hugepages::Unknown("Node look-up timed out after 2000ms".into()),
    );
    let resp = review(&down, "/validate", "lhnode-create-block").await;
    assert_allowed(&resp);
    assert!(
        resp["warnings"][0].as_str().unwrap().contains("timed out"),
        "{resp}"
    );
}

#[tokio::test]
async fn setting_and_pods_over_the_wire() {
    let app = app();
    assert_allowed(&review(&app, "/validate", "setting-create-data-path-good").await);
    assert_denied(
        &review(&app, "/validate", "setting-update-data-path-bad").await,
        &[
            "Longhorn setting \"default-data-path\": value \"/mnt/longhorn/\" is on Talos's read-only root filesystem",
        ],
    );
    assert_allowed(&review(&app, "/validate", "pod-create-longhorn-manager").await);
    assert_denied(
        &review(&app, "/validate", "pod-create-bad-hostpath").await,
        &[
            "pod longhorn-system/(generated name)",
            "volume \"longhorn\": hostPath \"/mnt/longhorn\"",
        ],
    );
    assert_allowed(&review(&app, "/validate", "pod-create-other-namespace").await);
}

#[tokio::test]
async fn default_disks_annotation_over_the_wire() {
    // kubectl annotate on a node labelled create-default-disk=config. Without a machine
    // config /var/mnt/longhorn is taken for a user volume; /mnt/ssd is on the read-only root.
    let resp = review(&app(), "/validate", "knode-update-default-disks-bad").await;
    assert_denied(
        &resp,
        &[
            "Kubernetes node \"worker-1\": annotation node.longhorn.io/default-disks-config",
            "has 1 disk problem:",
            "disk \"fast-ssd\": path \"/mnt/ssd\" is on Talos's read-only root filesystem",
            "UserVolumeConfig, name: ssd",
        ],
    );
    // A path vouched for on that node (not a Talos node, say) is allowed.
    let cfg = Config::from_yaml(
        "nodes: {worker-1: {allowedMounts: [{path: /mnt/ssd}]}}",
        "t",
    )
    .unwrap();
    let app = app_with(cfg, Hugepages::Known(0));
    assert_allowed(&review(&app, "/validate", "knode-update-default-disks-bad").await);
}

#[tokio::test]
async fn var_mnt_is_a_user_volume_unless_the_machine_config_says_otherwise() {
    use longhorn_talos_guard::host::Layout;
    // No machine config: /var/mnt/<name> is taken for a user volume (Longhorn's 1.10+ page).
    assert_allowed(&review(&app(), "/validate", "setting-create-data-path-good").await);
    let cfg = Config {
        host: Some(Layout::default()),
        ..Config::default()
    };
    let app = app_with(cfg, Hugepages::Known(0));
    let resp = review(&app, "/validate", "knode-update-default-disks-bad").await;
    // A known config without a volume "longhorn": a plain folder on EPHEMERAL (a warning).
    assert_eq!(
        resp["warnings"][0],
        "node worker-1 disk [0]: \"/var/mnt/longhorn\" is on EPHEMERAL (system disk, wiped by talosctl reset)",
        "{resp}"
    );
}

#[tokio::test]
async fn unhandled_kinds_are_allowed_with_their_uid() {
    for path in ["/validate", "/mutate"] {
        let resp = review(&app(), path, "deployment-create").await;
        assert_allowed(&resp);
        assert!(resp.get("patch").is_none());
    }
}

#[tokio::test]
async fn unreadable_bodies_get_400_and_the_server_keeps_serving() {
    let app = app();
    // (what, content type, body, status, text of the one-line answer)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        StatusCode,
        &'static str,
    );
    let cases: [Case; 7] = [
        (
            "not json",
            Some("application/json"),
            b"hello".to_vec(),
            StatusCode::BAD_REQUEST,
            "body is not an AdmissionReview",
        ),
        (
            "empty",
            Some("application/json"),
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "body is not an AdmissionReview",
        ),
        (
            "no request",
            Some("application/json"),
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "has no request",
        ),
        (
            "v1beta1",
            Some("application/json"),
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            "expected apiVersion admission.k8s.io/v1",
        ),
        (
            "no content type",
            None,
            review_fixture("namespace-create-baseline"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        (
            "non-UTF-8",
            Some("application/json"),
            vec![0xff, 0xfe, b'{'],
            StatusCode::BAD_REQUEST,
            "body is not an AdmissionReview",
        ),
        (
            "too large",
            Some("application/json"),
            vec![b' '; 64 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
    ];
    for (what, ct, body, want, text) in cases {
        let (status, out) = post(&app, "/validate", ct, body).await;
        assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(&out));
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains(text), "{what}: {out}");
        assert!(out.lines().count() <= 1, "{what}: one line: {out}");
        // The next valid review still succeeds.
        assert_denied(
            &review(&app, "/validate", "namespace-create-baseline").await,
            &[],
        );
    }
    let missing_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Namespace"},"operation":"CREATE"}}"#;
    let (status, out) = post(
        &app,
        "/validate",
        Some("application/json"),
        missing_uid.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "AdmissionReview request has no uid\n"
    );
}

#[tokio::test]
async fn methods_paths_and_probes() {
    let app = app();
    let get = |path: &'static str| {
        let app = app.clone();
        async move {
            let resp = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            (
                status,
                String::from_utf8(
                    resp.into_body()
                        .collect()
                        .await
                        .unwrap()
                        .to_bytes()
                        .to_vec(),
                )
                .unwrap(),
            )
        }
    };
    assert_eq!(get("/validate").await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get("/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/healthz").await, (StatusCode::OK, "ok\n".into()));
    assert_eq!(get("/readyz").await.0, StatusCode::OK);
    // Make sure at least one review was counted before reading metrics.
    review(&app, "/validate", "namespace-create-baseline").await;
    let (status, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#"ltg_admission_requests_total{endpoint="validate",kind="Namespace",operation="CREATE",decision="denied"}"#),
        "{text}"
    );
    // The companion counter names the rule and what it did (src/policy/rules/namespace_privileged.rs).
    assert!(
        text.contains(r#"ltg_admission_rule_results_total{endpoint="validate",rule="LTG-W002",result="denied"}"#),
        "{text}"
    );
    assert!(
        text.contains("ltg_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"0.001\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_turns_false_on_shutdown() {
    let state = AppState::new(
        Config::default(),
        Arc::new(longhorn_talos_guard::cluster::NoCluster),
    );
    let app = router(state.clone(), 1024);
    state
        .shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let resp = app
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A review body written by hand (a faulty or hostile API server's shape).
async fn raw_review(app: &Router, body: &str) -> (StatusCode, Value) {
    let (status, out) = post(
        app,
        "/validate",
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await;
    let value = serde_json::from_slice(&out)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out).into_owned()));
    (status, value)
}

const HOME_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"longhorn-system"},"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"h","mountPath":"/h"}]}],"volumes":[{"name":"h","hostPath":{"path":"/home"}}]}}"#;

#[tokio::test]
async fn a_kind_given_twice_is_the_last_one_as_go_reads_it() {
    // Go's encoding/json keeps the last of duplicate keys; the object is
    // typed by that kind wherever it stands (before or after the object).
    let app = app();
    for body in [
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u1","kind":{{"group":"","version":"v1","kind":"ConfigMap"}},"namespace":"longhorn-system","operation":"CREATE","object":{HOME_POD},"kind":{{"group":"","version":"v1","kind":"Pod"}}}}}}"#
        ),
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u1","kind":{{"group":"apps","version":"v1","kind":"ControllerRevision"}},"kind":{{"group":"","version":"v1","kind":"Pod"}},"namespace":"longhorn-system","operation":"CREATE","object":{HOME_POD}}}}}"#
        ),
    ] {
        let (status, out) = raw_review(&app, &body).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["response"]["uid"], "u1");
        assert_denied(&out["response"], &["hostPath \"/home\""]);
    }
    // The last kind wins the other way round too: a Pod named first, then a
    // kind no rule reads, is that kind (as a Go webhook would read it).
    let body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u2","kind":{{"kind":"Pod"}},"object":{HOME_POD},"kind":{{"group":"apps","kind":"ControllerRevision"}},"operation":"CREATE","namespace":"longhorn-system"}}}}"#
    );
    let (status, out) = raw_review(&app, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_allowed(&out["response"]);
}

#[tokio::test]
async fn the_requests_namespace_is_the_one_judged() {
    // The API server enforces request.namespace (it scopes the webhooks by
    // it); an object claiming another namespace is judged by the request's.
    let app = app();
    let pod = HOME_POD.replace(
        r#""namespace":"longhorn-system""#,
        r#""namespace":"default""#,
    );
    let body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u3","kind":{{"kind":"Pod"}},"namespace":"longhorn-system","operation":"CREATE","object":{pod}}}}}"#
    );
    let (status, out) = raw_review(&app, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_denied(
        &out["response"],
        &["pod longhorn-system/p", "hostPath \"/home\""],
    );
    // The same for the longhorn-default-setting ConfigMap.
    let cm = r#"{"metadata":{"name":"longhorn-default-setting","namespace":"elsewhere"},"data":{"default-setting.yaml":"default-data-path: /mnt/ssd\n"}}"#;
    let body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u4","kind":{{"kind":"ConfigMap"}},"name":"longhorn-default-setting","namespace":"longhorn-system","operation":"CREATE","object":{cm}}}}}"#
    );
    let (status, out) = raw_review(&app, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_denied(
        &out["response"],
        &[
            "ConfigMap longhorn-system/longhorn-default-setting",
            "/mnt/ssd",
        ],
    );
}

#[tokio::test]
async fn a_list_where_an_object_belongs_is_refused() {
    // serde's derive reads a JSON list into a struct field by field; Go's
    // decoder refuses it (cannot unmarshal array into Go struct field), so
    // no Go reading can deny what this one would allow: 400, naming it.
    let app = app();
    let cases = [
        (
            r#""object":{"metadata":{"name":"p"},"spec":[]}"#,
            "invalid type: sequence, expected an object (PodSpec)",
        ),
        (
            r#""object":{"metadata":{"name":"p"},"spec":[null,[{"name":"h","hostPath":{"path":"/home"}}]]}"#,
            "invalid type: sequence, expected an object (PodSpec)",
        ),
        (
            r#""object":{"metadata":["p","longhorn-system"],"spec":{}}"#,
            "invalid type: sequence, expected an object (Meta)",
        ),
        (
            r#""object":{"spec":{"volumes":[["h",{"path":"/home"}]]}}"#,
            "invalid type: sequence, expected an object (Volume)",
        ),
    ];
    for (object, want) in cases {
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u5","kind":{{"kind":"Pod"}},"namespace":"longhorn-system","operation":"CREATE",{object}}}}}"#
        );
        let (status, out) = raw_review(&app, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{object}: {out}");
        let text = out.as_str().unwrap_or_default();
        assert!(
            text.contains("request.object is not a valid Pod") && text.contains(want),
            "{object}: {text}"
        );
    }
    // A list as the request's kind is refused too, not read as [group, kind].
    let body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u6","kind":["","Pod"],"namespace":"longhorn-system","operation":"CREATE","object":{HOME_POD}}}}}"#
    );
    let (status, out) = raw_review(&app, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(
        out.as_str()
            .unwrap_or_default()
            .contains("expected an object (GroupKind)"),
        "{out}"
    );
    assert_denied(
        &review(&app, "/validate", "namespace-create-baseline").await,
        &[],
    );
}
