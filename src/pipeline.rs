//! The one review pipeline every front end calls:
//! decode → facts → rules → verdict → encode.
//!
//! The server and `bench` enter with an AdmissionReview body ([`review`]);
//! `check` enters with a typed object it decoded from a manifest
//! ([`judge`]); `talos lint` with the typed object a machine config puts on
//! its node. All of them reach the same [`crate::policy::evaluate`].

use serde_json::Value;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::admission::{self, Decoded, ReviewError};
use crate::cluster::NodeFacts;
use crate::config::Config;
use crate::policy::writes::Writes;
use crate::policy::{
    self, AnyObject, Decision, FactQuery, Facts, Hugepages, Judgement, Kind, Operation, Phase,
    Request, RuleDecision, Str, Subject, Verdict,
};

/// One review, done: what was decided and the response body.
#[derive(Debug)]
pub struct Reviewed {
    /// `kind` label for logs and metrics (`other` for kinds no rule reads).
    pub kind: &'static str,
    /// `request.operation`.
    pub operation: &'static str,
    /// The rules' verdict.
    pub verdict: Verdict,
    /// What was decided.
    pub decision: Decision,
    /// Every rule that ran, with what it did, in registry order.
    pub rules: Vec<(&'static str, RuleDecision)>,
    /// The response AdmissionReview, JSON.
    pub body: Vec<u8>,
}

/// The kind the rules read `object` as (from its `apiVersion` and `kind`),
/// if any rule reads it.
pub fn kind_of(object: &Value) -> Option<Kind> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Kind::from_group_kind(group, object["kind"].as_str().unwrap_or(""))
}

/// The one builder of a CREATE request from a manifest (`check`, the audit,
/// `talos lint`): `object` of `kind` in `namespace`, written by `username`,
/// or why the API server would not send it (the object does not decode).
pub fn create_request<'v>(
    kind: Kind,
    object: &'v Value,
    namespace: &'v str,
    username: &'v str,
) -> Result<Request<'v>, String> {
    let typed = AnyObject::deserialize(kind, object)
        .map_err(|e| format!("request.object is not a valid {}: {e}", kind.as_str()))?;
    Ok(Request {
        operation: Operation::Create,
        name: Str::from(object["metadata"]["name"].as_str().unwrap_or("")),
        namespace: Str::from(namespace),
        username: Str::from(username),
        subject: Subject::from_objects(kind, typed, None),
    })
}

/// Looks up the cluster facts the rules that run on `req` need (`writes`:
/// what it writes, [`policy::registry::writes`]).
pub async fn facts(
    phase: Phase,
    req: &Request<'_>,
    cfg: &Config,
    writes: &Writes<'_>,
    source: &dyn NodeFacts,
) -> Facts {
    let mut facts = Facts::default();
    for query in policy::registry::fact_queries(phase, req, cfg, writes) {
        match query {
            FactQuery::Hugepages(node) => facts.hugepages = Some(source.hugepages(&node).await),
            FactQuery::NodeVolumes(node) => facts.node_volumes = source.reported_volumes(&node),
        }
    }
    facts
}

/// The facts of an offline run (`check`, `talos lint`): nothing from a
/// cluster, and every look-up says so.
pub fn offline_facts(why: &str) -> Facts {
    Facts {
        hugepages: Some(Hugepages::Unknown(why.to_string())),
        node_volumes: None,
    }
}

/// One request judged: the per-rule judgement, its rendering and the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Every applicable rule's result.
    pub judgement: Judgement,
    /// The webhook's answer, rendered from it.
    pub verdict: Verdict,
    /// What was decided.
    pub decision: Decision,
}

/// Judges a typed request and renders the answer.
pub fn judge(phase: Phase, req: &Request<'_>, cfg: &Config, facts: &Facts) -> Judged {
    Judged::of(policy::judge(phase, req, cfg, facts), cfg)
}

impl Judged {
    /// A judgement with its rendering and decision.
    fn of(judgement: Judgement, cfg: &Config) -> Judged {
        Judged {
            verdict: judgement.verdict(cfg.host.as_ref()),
            decision: judgement.decision(),
            judgement,
        }
    }
}

/// Reviews one AdmissionReview body end to end, in one tracing span that
/// carries the uid, kind, object, user, the rules that fired and the decision.
pub async fn review(
    phase: Phase,
    body: &[u8],
    cfg: &Config,
    source: &dyn NodeFacts,
) -> Result<Reviewed, ReviewError> {
    let decoded = admission::decode(body)?;
    let span = tracing::info_span!(
        "review",
        uid = %decoded.uid,
        kind = %decoded.group_kind.1,
        namespace = Empty,
        name = Empty,
        user = Empty,
        operation = decoded.operation.as_str(),
        dry_run = decoded.dry_run,
        rules = Empty,
        decision = Empty,
    );
    Ok(reviewed(phase, &decoded, cfg, source)
        .instrument(span)
        .await)
}

/// [`review`] with the facts already known (an offline run, `bench`): the
/// same decode, rules and encode, with no look-up and no span.
pub fn review_with(
    phase: Phase,
    body: &[u8],
    cfg: &Config,
    facts: &Facts,
) -> Result<Reviewed, ReviewError> {
    let decoded = admission::decode(body)?;
    let writes = decoded
        .request
        .as_ref()
        .map(|req| policy::registry::writes(phase, req, cfg));
    Ok(finish(phase, &decoded, cfg, facts, writes.as_ref()))
}

async fn reviewed(
    phase: Phase,
    decoded: &Decoded<'_>,
    cfg: &Config,
    source: &dyn NodeFacts,
) -> Reviewed {
    let span = tracing::Span::current();
    if let Some(req) = &decoded.request {
        span.record("namespace", &*req.namespace);
        span.record("name", &*req.name);
        span.record("user", &*req.username);
    }
    // What the request writes is read once, for the look-ups and the rules.
    let writes = decoded
        .request
        .as_ref()
        .map(|req| policy::registry::writes(phase, req, cfg));
    let facts = match (&decoded.request, &writes) {
        (Some(req), Some(writes)) => facts(phase, req, cfg, writes, source).await,
        _ => Facts::default(),
    };
    let done = finish(phase, decoded, cfg, &facts, writes.as_ref());
    let rules: Vec<&str> = done
        .verdict
        .denied_by
        .iter()
        .chain(&done.verdict.flagged_by)
        .copied()
        .collect();
    span.record("rules", rules.join(",").as_str());
    span.record("decision", done.decision.as_str());
    match done.decision {
        Decision::Denied => tracing::info!(
            reason = ?done.verdict.denial.as_deref().unwrap_or_default(),
            "denied"
        ),
        // A patch is routine (every Longhorn namespace gets its labels):
        // debug, so that INFO holds denials, warnings and state changes.
        Decision::Patched => tracing::debug!(operations = done.verdict.patch.len(), "patched"),
        Decision::Warned => {
            tracing::info!(warnings = ?done.verdict.warnings, "allowed with warnings")
        }
        _ if decoded.request.is_none() => {
            tracing::debug!(group = %decoded.group_kind.0, "kind not handled; allowed")
        }
        _ => {}
    }
    done
}

/// The rules on a decoded review with its facts, and the encoded answer.
fn finish(
    phase: Phase,
    decoded: &Decoded<'_>,
    cfg: &Config,
    facts: &Facts,
    writes: Option<&Writes<'_>>,
) -> Reviewed {
    let operation = decoded.operation.as_str();
    let (Some(req), Some(writes)) = (&decoded.request, writes) else {
        return Reviewed {
            kind: "other",
            operation,
            verdict: Verdict::default(),
            decision: Decision::Allowed,
            rules: Vec::new(),
            body: admission::encode(&decoded.uid, &Verdict::default()),
        };
    };
    let judgement = policy::registry::judge_writes(phase, req, cfg, facts, writes);
    let judged = Judged::of(judgement, cfg);
    Reviewed {
        kind: req.subject.kind().as_str(),
        operation,
        body: admission::encode(&decoded.uid, &judged.verdict),
        rules: judged
            .judgement
            .results
            .iter()
            .map(|r| (r.rule.id, r.decision()))
            .collect(),
        verdict: judged.verdict,
        decision: judged.decision,
    }
}
