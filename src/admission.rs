//! The AdmissionReview wire format (`admission.k8s.io/v1`): decoding a review
//! into a typed [`Request`], and encoding a [`Verdict`] into the response the
//! API server expects (uid echo, 403/Forbidden, base64 JSON Patch).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::policy::{Kind, Operation, Pair, Request, Subject, Verdict, objects};

/// The only review version this webhook speaks.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body is not a usable AdmissionReview; answered with HTTP 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// The body is not JSON of the expected shape.
    #[error("body is not an AdmissionReview: {0}")]
    Json(String),
    /// `apiVersion` or `kind` is wrong.
    #[error(
        "expected apiVersion {API_VERSION} and kind AdmissionReview, got {api_version:?} {kind:?}"
    )]
    Version {
        /// The `apiVersion` sent.
        api_version: String,
        /// The `kind` sent.
        kind: String,
    },
    /// There is no `request`.
    #[error("AdmissionReview has no request")]
    NoRequest,
    /// `request.uid` is missing or empty.
    #[error("AdmissionReview request has no uid")]
    NoUid,
    /// The object does not decode as the kind the request names.
    #[error("request.{field} is not a valid {kind}: {message}")]
    Object {
        /// `object` or `oldObject`.
        field: &'static str,
        /// The kind it should be.
        kind: &'static str,
        /// The decoder's message.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(borrow, default)]
    request: Option<RequestIn<'a>>,
}

/// Only the type fields, to explain a body that does not decode.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    #[serde(default)]
    uid: String,
    kind: GroupKind,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    operation: Operation,
    #[serde(default)]
    user_info: UserInfo,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct GroupKind {
    #[serde(default)]
    group: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: String,
}

/// A decoded review: the uid to echo, and the typed request when its kind is
/// one the policies handle.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// `request.uid`.
    pub uid: String,
    /// `request.kind.group` and `.kind`, for logs.
    pub group_kind: (String, String),
    /// `request.operation`.
    pub operation: Operation,
    /// `request.dryRun`.
    pub dry_run: bool,
    /// The typed request; `None` for a kind the webhook does not handle.
    pub request: Option<Request>,
}

fn typed<T: for<'de> Deserialize<'de>>(
    raw: Option<&RawValue>,
    field: &'static str,
    kind: Kind,
) -> Result<Option<T>, ReviewError> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => serde_json::from_str(r.get())
            .map(Some)
            .map_err(|e| ReviewError::Object {
                field,
                kind: kind.as_str(),
                message: e.to_string(),
            }),
    }
}

fn pair<T: for<'de> Deserialize<'de>>(
    req: &RequestIn<'_>,
    kind: Kind,
) -> Result<Pair<T>, ReviewError> {
    Ok(Pair {
        object: typed(req.object, "object", kind)?,
        old: typed(req.old_object, "oldObject", kind)?,
    })
}

/// Decodes an AdmissionReview body.
pub fn decode(body: &[u8]) -> Result<Decoded, ReviewError> {
    let review: ReviewIn<'_> = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            // Name a wrong version rather than the first field it lacks.
            if let Ok(env) = serde_json::from_slice::<Envelope>(body)
                && (env.api_version != API_VERSION || env.kind != "AdmissionReview")
            {
                return Err(ReviewError::Version {
                    api_version: env.api_version,
                    kind: env.kind,
                });
            }
            return Err(ReviewError::Json(e.to_string()));
        }
    };
    if review.api_version != API_VERSION || review.kind != "AdmissionReview" {
        return Err(ReviewError::Version {
            api_version: review.api_version,
            kind: review.kind,
        });
    }
    let req = review.request.ok_or(ReviewError::NoRequest)?;
    if req.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    let kind = Kind::from_group_kind(&req.kind.group, &req.kind.kind);
    let subject = match kind {
        None => None,
        Some(k @ Kind::Namespace) => Some(Subject::Namespace(pair(&req, k)?)),
        Some(k @ Kind::Pod) => Some(Subject::Pod(pair(&req, k)?)),
        Some(k @ Kind::LonghornNode) => Some(Subject::LonghornNode(pair(&req, k)?)),
        Some(k @ Kind::LonghornSetting) => {
            Some(Subject::LonghornSetting(pair::<objects::Setting>(&req, k)?))
        }
    };
    Ok(Decoded {
        uid: req.uid.clone(),
        group_kind: (req.kind.group.clone(), req.kind.kind.clone()),
        operation: req.operation,
        dry_run: req.dry_run,
        request: subject.map(|subject| Request {
            operation: req.operation,
            name: req.name,
            namespace: req.namespace,
            username: req.user_info.username,
            subject,
        }),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// Encodes the response review for `uid`. A denial carries `status.code: 403`
/// and `reason: Forbidden`; a patch is sent base64-encoded with
/// `patchType: JSONPatch` (never as a number array).
pub fn encode(uid: &str, verdict: &Verdict) -> Vec<u8> {
    let patch = (!verdict.patch.is_empty()).then(|| {
        let json = serde_json::to_vec(&verdict.patch).expect("a JSON Patch always serialises");
        base64::engine::general_purpose::STANDARD.encode(json)
    });
    let review = ReviewOut {
        api_version: API_VERSION,
        kind: "AdmissionReview",
        response: ResponseOut {
            uid,
            allowed: verdict.allowed(),
            status: verdict.denial.as_deref().map(|message| StatusOut {
                code: 403,
                reason: "Forbidden",
                message,
            }),
            warnings: &verdict.warnings,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
        },
    };
    serde_json::to_vec(&review).expect("a response review always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn review(request: Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": request}),
        )
        .unwrap()
    }

    #[test]
    fn decodes_a_namespace_create() {
        let body = review(json!({
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Namespace"},
            "resource": {"group": "", "version": "v1", "resource": "namespaces"},
            "name": "longhorn-system", "operation": "CREATE",
            "userInfo": {"username": "admin", "groups": ["system:masters"]},
            "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "longhorn-system", "labels": {"a": "b"}}},
            "oldObject": null, "dryRun": true
        }));
        let d = decode(&body).unwrap();
        assert_eq!(d.uid, "u1");
        assert!(d.dry_run);
        let req = d.request.unwrap();
        assert_eq!(req.username, "admin");
        match req.subject {
            Subject::Namespace(p) => {
                assert!(p.old.is_none());
                assert_eq!(p.object.unwrap().metadata.labels.unwrap()["a"], "b");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unhandled_kinds_decode_without_a_request() {
        let body = review(
            json!({"uid": "u2", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "operation": "CREATE", "object": {"spec": 1}}),
        );
        let d = decode(&body).unwrap();
        assert_eq!(d.uid, "u2");
        assert!(d.request.is_none());
    }

    #[test]
    fn unreadable_reviews_are_named() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "body is not an AdmissionReview"),
            (br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#, "expected apiVersion admission.k8s.io/v1"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "has no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"},"operation":"CREATE"}}"#, "has no uid"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"PATCH"}}"#, "unknown variant"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Namespace"},"operation":"CREATE","object":{"metadata":{"labels":{"a":1}}}}}"#, "request.object is not a valid Namespace"),
        ];
        for (body, want) in cases {
            let err = decode(body).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn denial_wire_format() {
        let v = Verdict {
            denial: Some("no".into()),
            warnings: vec!["w".into()],
            patch: vec![],
        };
        let out: Value = serde_json::from_slice(&encode("abc", &v)).unwrap();
        assert_eq!(
            out,
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": "abc", "allowed": false, "warnings": ["w"],
                    "status": {"code": 403, "reason": "Forbidden", "message": "no"}}})
        );
    }

    #[test]
    fn patch_is_a_base64_string() {
        let patch: json_patch::Patch = serde_json::from_value(
            json!([{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]),
        )
        .unwrap();
        let v = Verdict {
            patch: patch.0,
            ..Verdict::default()
        };
        let out: Value = serde_json::from_slice(&encode("abc", &v)).unwrap();
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        let b64 = out["response"]["patch"]
            .as_str()
            .expect("patch is a string, not a number array");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let ops: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(ops[0]["path"], "/metadata/labels");
        assert!(out["response"].get("status").is_none());
    }
}
