//! The AdmissionReview wire format (`admission.k8s.io/v1`): decoding a review
//! into a typed [`Request`], and encoding a [`Verdict`] into the response the
//! API server expects (uid echo, 403/Forbidden, base64 JSON Patch).

use base64::Engine as _;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::policy::objects::Str;
use crate::policy::{AnyObject, Kind, Operation, Request, Subject, Verdict};

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
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(default, borrow)]
    api_version: Str<'a>,
    #[serde(default, borrow)]
    kind: Str<'a>,
    #[serde(borrow, default)]
    request: Option<RequestIn<'a>>,
}

crate::policy::objects::object_only!(ReviewIn, GroupKind, UserInfo);

/// Only the type fields, to explain a body that does not decode.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(remote = "Self")]
struct GroupKind<'a> {
    #[serde(default, borrow)]
    group: Str<'a>,
    #[serde(default, borrow)]
    kind: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(remote = "Self")]
struct UserInfo<'a> {
    #[serde(default, borrow)]
    username: Str<'a>,
}

/// `object` or `oldObject` as read: typed by the kind named before it (the
/// API server writes `kind` first), or raw when no kind was named yet.
// Two of these live for one decode, on the stack: boxing the typed object
// would add an allocation to every review for no saving.
#[allow(clippy::large_enum_variant)]
enum Slot<'a> {
    /// Decoded by the kind named before it (`None`: null, or a kind no policy reads).
    Typed(Option<AnyObject<'a>>),
    Raw(&'a RawValue),
}

/// The request, decoded in one pass: `object` and `oldObject` go straight
/// into the typed view of the kind named before them. Go's encoding/json
/// keeps the last of duplicate keys, so when `kind` comes again after an
/// object was typed, [`decode`] reads the request a second time with both
/// objects raw and types them by the last kind (typing the object by the
/// first let a Pod pass as a kind no rule reads). A real API server names
/// the kind once: the second pass costs nothing on its reviews.
#[derive(Default)]
struct RequestIn<'a> {
    uid: Str<'a>,
    kind: GroupKind<'a>,
    name: Str<'a>,
    namespace: Str<'a>,
    operation: Option<Operation>,
    username: Str<'a>,
    dry_run: bool,
    object: Option<Slot<'a>>,
    old_object: Option<Slot<'a>>,
    /// A `kind` came after an object was typed.
    retype: bool,
}

struct ObjectSeed {
    kind: Kind,
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Option<AnyObject<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let (kind, field) = (self.kind, self.field);
        AnyObject::deserialize(kind, d).map_err(|e| {
            D::Error::custom(format!(
                "request.{field} is not a valid {}: {e}",
                kind.as_str()
            ))
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RequestIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor { raw: false })
    }
}

/// The request with both objects kept raw (the second pass of [`decode`]).
struct RawRequestIn<'a>(RequestIn<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for RawRequestIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor { raw: true })
            .map(RawRequestIn)
    }
}

/// Only the request, for the second pass.
#[derive(Deserialize)]
struct RequestOnly<'a> {
    #[serde(borrow, default)]
    request: Option<RawRequestIn<'a>>,
}

struct RequestVisitor {
    raw: bool,
}

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = RequestIn<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an AdmissionRequest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = RequestIn::default();
        let mut kind_seen = false;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "uid" => r.uid = map.next_value::<Option<Str<'de>>>()?.unwrap_or_default(),
                "kind" => {
                    r.kind = map
                        .next_value::<Option<GroupKind<'de>>>()?
                        .unwrap_or_default();
                    kind_seen = true;
                    let typed = |s: &Option<Slot>| matches!(s, Some(Slot::Typed(..)));
                    r.retype |= typed(&r.object) || typed(&r.old_object);
                }
                "name" => r.name = map.next_value::<Option<Str<'de>>>()?.unwrap_or_default(),
                "namespace" => {
                    r.namespace = map.next_value::<Option<Str<'de>>>()?.unwrap_or_default()
                }
                "operation" => r.operation = Some(map.next_value()?),
                "userInfo" => {
                    r.username = map
                        .next_value::<Option<UserInfo<'de>>>()?
                        .unwrap_or_default()
                        .username
                }
                "dryRun" => r.dry_run = map.next_value::<Option<bool>>()?.unwrap_or(false),
                "object" | "oldObject" => {
                    let field = if &*key == "object" {
                        "object"
                    } else {
                        "oldObject"
                    };
                    let slot = if self.raw || !kind_seen {
                        Slot::Raw(map.next_value::<&'de RawValue>()?)
                    } else {
                        match Kind::from_group_kind(&r.kind.group, &r.kind.kind) {
                            Some(kind) => {
                                Slot::Typed(map.next_value_seed(ObjectSeed { kind, field })?)
                            }
                            None => {
                                map.next_value::<IgnoredAny>()?;
                                Slot::Typed(None)
                            }
                        }
                    };
                    if field == "object" {
                        r.object = Some(slot);
                    } else {
                        r.old_object = Some(slot);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if r.operation.is_none() {
            return Err(A::Error::missing_field("operation"));
        }
        Ok(r)
    }
}

/// A decoded review: the uid to echo, and the typed request when its kind is
/// one the policies handle. Strings borrow from the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    /// `request.uid`.
    pub uid: Str<'a>,
    /// `request.kind.group` and `.kind`, for logs.
    pub group_kind: (Str<'a>, Str<'a>),
    /// `request.operation`.
    pub operation: Operation,
    /// `request.dryRun`.
    pub dry_run: bool,
    /// The typed request; `None` for a kind the webhook does not handle.
    pub request: Option<Request<'a>>,
}

/// Resolves a slot into the typed object of `kind` (a slot typed by
/// another kind only happens in the first pass, which [`decode`] redoes).
fn resolve<'a>(
    slot: Option<Slot<'a>>,
    kind: Kind,
    field: &'static str,
) -> Result<Option<AnyObject<'a>>, ReviewError> {
    let raw = match slot {
        None => return Ok(None),
        Some(Slot::Typed(t)) => return Ok(t),
        Some(Slot::Raw(raw)) => raw,
    };
    let mut d = serde_json::Deserializer::from_str(raw.get());
    ObjectSeed { kind, field }
        .deserialize(&mut d)
        .map_err(|e| ReviewError::Json(e.to_string()))
}

/// Decodes an AdmissionReview body.
pub fn decode(body: &[u8]) -> Result<Decoded<'_>, ReviewError> {
    // One UTF-8 check for the whole body, so strings are not checked one by one.
    let text = std::str::from_utf8(body)
        .map_err(|e| ReviewError::Json(format!("the body is not UTF-8: {e}")))?;
    let review: ReviewIn<'_> = match serde_json::from_str(text) {
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
            api_version: review.api_version.to_string(),
            kind: review.kind.to_string(),
        });
    }
    let mut req = review.request.ok_or(ReviewError::NoRequest)?;
    if req.retype {
        // The kind came again after an object: read the request again with
        // the objects raw, and type them by the last kind.
        let again: RequestOnly<'_> =
            serde_json::from_str(text).map_err(|e| ReviewError::Json(e.to_string()))?;
        req = again.request.ok_or(ReviewError::NoRequest)?.0;
    }
    if req.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    let operation = req.operation.expect("checked by the visitor");
    let subject = match Kind::from_group_kind(&req.kind.group, &req.kind.kind) {
        None => None,
        Some(kind) => {
            let object = resolve(req.object, kind, "object")?;
            let old = resolve(req.old_object, kind, "oldObject")?;
            Some(Subject::from_objects(kind, object, old))
        }
    };
    Ok(Decoded {
        uid: req.uid,
        group_kind: (req.kind.group, req.kind.kind),
        operation,
        dry_run: req.dry_run,
        request: subject.map(|subject| Request {
            operation,
            name: req.name,
            namespace: req.namespace,
            username: req.username,
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
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    audit_annotations: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

/// Encodes the response review for `uid`. A denial carries `status.code: 403`
/// and `reason: Forbidden`; a patch is sent base64-encoded with
/// `patchType: JSONPatch` (never as a number array). The IDs of the rules
/// that denied or warned go in `auditAnnotations` (`denied-by`, `flagged-by`;
/// the API server prefixes them with the webhook's name).
pub fn encode(uid: &str, verdict: &Verdict) -> Vec<u8> {
    let mut audit_annotations = std::collections::BTreeMap::new();
    if !verdict.denied_by.is_empty() {
        audit_annotations.insert("denied-by", verdict.denied_by.join(","));
    }
    if !verdict.flagged_by.is_empty() {
        audit_annotations.insert("flagged-by", verdict.flagged_by.join(","));
    }
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
            audit_annotations,
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
    fn object_before_kind_decodes_the_same() {
        // serde_json keeps keys sorted here, so "kind" follows "object" only in hand-written text.
        let kind_first = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Namespace"},"operation":"UPDATE","object":{"metadata":{"name":"longhorn-system","labels":{"a":"b"}}},"oldObject":{"metadata":{"name":"longhorn-system"}}}}"#;
        let object_first = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{"metadata":{"name":"longhorn-system","labels":{"a":"b"}}},"oldObject":{"metadata":{"name":"longhorn-system"}},"uid":"u","operation":"UPDATE","kind":{"group":"","version":"v1","kind":"Namespace"}}}"#;
        let a = decode(kind_first).unwrap();
        let b = decode(object_first).unwrap();
        assert_eq!(a, b);
        assert!(
            matches!(&a.request.unwrap().subject, Subject::Namespace(p) if p.old.is_some() && p.object.is_some())
        );

        let bad = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{"metadata":{"labels":{"a":1}}},"uid":"u","operation":"CREATE","kind":{"kind":"Namespace"}}}"#;
        let err = decode(bad).unwrap_err().to_string();
        assert!(
            err.contains("request.object is not a valid Namespace"),
            "{err}"
        );
    }

    #[test]
    fn strings_borrow_from_the_body() {
        let body = review(
            json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Namespace"},
            "operation": "CREATE", "name": "longhorn-system",
            "object": {"metadata": {"name": "longhorn-system", "labels": {"esc\\aped": "v"}}}}),
        );
        let d = decode(&body).unwrap();
        assert!(matches!(d.uid.0, std::borrow::Cow::Borrowed(_)));
        let Subject::Namespace(p) = d.request.unwrap().subject else {
            panic!()
        };
        let labels = p.object.unwrap().metadata.labels.unwrap();
        let (key, value) = labels.iter().next().unwrap();
        assert_eq!(&**key, "esc\\aped");
        assert!(
            matches!(key.0, std::borrow::Cow::Owned(_)),
            "an escaped key is copied"
        );
        assert!(matches!(value.0, std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn unhandled_kinds_decode_without_a_request() {
        let body = review(
            json!({"uid": "u2", "kind": {"group": "apps", "version": "v1", "kind": "ControllerRevision"},
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
            ..Verdict::default()
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
    fn rule_ids_go_in_audit_annotations() {
        let v = Verdict {
            denial: Some("no".into()),
            denied_by: vec!["LTG-W010", "LTG-W020"],
            flagged_by: vec!["LTG-W002"],
            ..Verdict::default()
        };
        let out: Value = serde_json::from_slice(&encode("abc", &v)).unwrap();
        assert_eq!(
            out["response"]["auditAnnotations"],
            json!({"denied-by": "LTG-W010,LTG-W020", "flagged-by": "LTG-W002"})
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
