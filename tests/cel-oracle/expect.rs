//! What kube-apiserver must answer with the generated CEL policies, from the
//! webhook's own rules and renderer: shared by tests/cel_oracle.rs and
//! tests/e2e_cel.rs.

use longhorn_talos_guard::admission;
use longhorn_talos_guard::base::Mode;
use longhorn_talos_guard::cel::{
    self, KubeVersion,
    expr::{fitted, summary},
};
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::{Phase, apiserver, registry, render};
use serde_json::{Value, json};

/// What the API server must answer for `request`, from the webhook's rules:
/// the denial (the whole error text) when a rule the CEL covers denies, and
/// the warnings of covered rules that only warn (their violations, not the
/// notes the webhook adds that never deny, such as an unchanged bad value).
pub fn expected(cfg: &Config, request: &Value) -> (Option<String>, Vec<String>) {
    expected_at(cfg, KubeVersion(cel::NEWEST_MINOR), request)
}

/// [`expected`] for the policies generated for Kubernetes `version`.
pub fn expected_at(
    cfg: &Config,
    version: KubeVersion,
    request: &Value,
) -> (Option<String>, Vec<String>) {
    expected_for(cfg, version, cel::Served::default(), request)
}

/// [`expected_at`] for the policies generated for an API server that also serves `served`.
pub fn expected_for(
    cfg: &Config,
    version: KubeVersion,
    served: cel::Served,
    request: &Value,
) -> (Option<String>, Vec<String>) {
    let covered = cel::generate_for(cfg, version, served).covered;
    // Mutation runs before validation in kube-apiserver (CEL.md, admission order): the
    // webhook's own patch is applied first, as the API server applies it.
    let facts = pipeline::offline_facts("cel oracle");
    let mut request = request.clone();
    let mutates = covered.iter().any(|(id, _)| *id == "LTG-W001");
    if mutates && !request["object"].is_null() {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": &request});
        let mutated =
            pipeline::review_with(Phase::Mutate, body.to_string().as_bytes(), cfg, &facts).unwrap();
        json_patch::patch(&mut request["object"], &mutated.verdict.patch).unwrap();
    }
    let request = &request;
    let body =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    let body = body.to_string();
    let done = pipeline::review_with(Phase::Validate, body.as_bytes(), cfg, &facts).unwrap();
    let decoded = admission::decode(body.as_bytes()).unwrap();
    let req = decoded.request.expect("a request");
    let mut denial = None;
    let mut warnings = Vec::new();
    let writes = registry::writes(Phase::Validate, &req, cfg);
    for (rule, mode) in registry::applicable(Phase::Validate, &req, cfg) {
        if !covered.iter().any(|(c, _)| *c == rule.id)
            || cel::kinds_left(rule.id).contains(&req.subject.kind())
        {
            continue;
        }
        let violations = (rule.check)(&req, cfg, &facts, &writes).violations;
        if violations.is_empty() {
            continue;
        }
        // The policy's message: the rule ID and the first sentence, cut to
        // the API server's 5 KiB (src/cel/expr.rs fit_message).
        let first = summary(&render::denial(&violations, cfg.host.as_ref()));
        let message = fitted(&format!("{}: {first}", rule.id));
        let policy = cel::policy_name(rule.id);
        match mode {
            Mode::Enforce => {
                // The webhook's own denial names the same rule and starts with the same sentence.
                assert!(done.verdict.denied_by.contains(&rule.id), "{request}");
                let webhook = done.verdict.denial.as_deref().unwrap_or_default();
                if done.verdict.denied_by.len() == 1 {
                    assert_eq!(summary(webhook), first);
                }
                // A Forbidden status reads `<resource>[.<group>] "<name>" is forbidden: <message>`.
                let group = request["resource"]["group"].as_str().unwrap_or_default();
                let resource = request["resource"]["resource"].as_str().unwrap_or_default();
                let qualified = if group.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource}.{group}")
                };
                // The name as k8s.io/apiserver v0.37.2 pkg/admission/errors.go
                // extractResourceName gives it: the request's, else the object's
                // name, else its generateName, else "Unknown".
                let meta = &request["object"]["metadata"];
                let name = [&request["name"], &meta["name"], &meta["generateName"]]
                    .into_iter()
                    .filter_map(Value::as_str)
                    .find(|n| !n.is_empty())
                    .unwrap_or("Unknown");
                denial = Some(format!(
                    "{qualified} {name:?} is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: {message}"
                ));
            }
            _ => {
                let policy = if registry::configured(rule, cfg) == Mode::Enforce {
                    format!("{policy}-warn-only")
                } else {
                    policy
                };
                warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{policy}': {message}"
                ));
            }
        }
    }
    (denial, warnings)
}

/// What kube-apiserver's own validation says of `request`'s object before
/// any admission policy runs (`Some`: it refuses it; src/policy/apiserver.rs,
/// checked against kube-apiserver in tests/e2e): such a request never
/// reaches the policies, so a real API server never shows their verdict.
pub fn refused_by_api_server(request: &Value) -> Option<String> {
    let body =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
            .to_string();
    let decoded = admission::decode(body.as_bytes()).unwrap();
    let req = decoded.request.expect("a request");
    let generate_name = request["object"]["metadata"]["generateName"].as_str();
    apiserver::refusal(&req, generate_name)
}
