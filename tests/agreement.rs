//! The audit and the webhook cannot drift: for every review fixture
//! (tests/fixtures/admission), the audit's findings on its object are the
//! webhook's own answer to a CREATE of that object by the audit's user —
//! one `fail` finding per rule in `denied-by` whose messages, joined, are
//! the denial, and the `warn` findings are the warnings, in order. In the
//! default modes and with every rule set to `warn`.

mod common;

use std::collections::BTreeMap;

use longhorn_talos_guard::audit::{self, Outcome};
use longhorn_talos_guard::check::sent_to_webhook;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::{Facts, Hugepages, Phase, RULES};
use serde_json::{Value, json};

/// True when the object is judged through its controller by the audit (a
/// pod of a DaemonSet...): the audit says nothing of it by design.
fn has_controller(object: &Value) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|o| o.iter().any(|r| r["controller"] == json!(true)))
}

/// Compares the audit with the webhook on every fixture under `cfg`;
/// returns how many fixtures gave a `fail` and how many a `warn`.
fn agree(cfg: &Config) -> (usize, usize) {
    let (mut failed, mut warned) = (0, 0);
    for name in common::review_fixture_names() {
        let review: Value = serde_json::from_slice(&common::review_fixture(&name)).unwrap();
        let request = &review["request"];
        let mut object = request["object"].clone();
        if !object.is_object() {
            continue; // A DELETE: nothing exists to audit.
        }
        let namespace = request["namespace"].as_str().unwrap_or("");
        if object["metadata"]["namespace"].is_null() && !namespace.is_empty() {
            object["metadata"]["namespace"] = json!(namespace);
        }
        let Some(kind) = pipeline::kind_of(&object) else {
            continue;
        };
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("");
        if !sent_to_webhook(kind, &object, ns, cfg) || has_controller(&object) {
            continue;
        }
        // The V2 rule looks up the Kubernetes node of a Longhorn node's name
        // (src/policy/rules/v2_hugepages.rs): none has hugepages, for both.
        let node = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let hugepages: BTreeMap<String, u64> = [(node, 0)].into();
        let findings = audit::judge_object(&object, cfg, &hugepages);

        let mut create = review.clone();
        create["request"]["operation"] = json!("CREATE");
        create["request"]["oldObject"] = Value::Null;
        create["request"]["object"] = object.clone();
        create["request"]["userInfo"] = json!({"username": audit::AUDIT_USER});
        let body = serde_json::to_vec(&create).unwrap();
        let facts = Facts {
            hugepages: Some(Hugepages::Known(0)),
            ..Facts::default()
        };
        let done = pipeline::review_with(Phase::Validate, &body, cfg, &facts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let fails: Vec<_> = findings
            .iter()
            .filter(|f| f.result == Outcome::Fail)
            .collect();
        let denied_by: Vec<&str> = fails.iter().map(|f| f.policy).collect();
        let denial = (!fails.is_empty()).then(|| {
            fails
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let warnings: Vec<&str> = findings
            .iter()
            .filter(|f| f.result == Outcome::Warn)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(denied_by, done.verdict.denied_by, "{name}: denied by");
        assert_eq!(denial, done.verdict.denial, "{name}: denial");
        assert_eq!(warnings, done.verdict.warnings, "{name}: warnings");
        failed += usize::from(!fails.is_empty());
        warned += usize::from(!warnings.is_empty());
    }
    (failed, warned)
}

#[test]
fn the_audit_finds_what_the_webhook_answers_in_the_default_modes() {
    let (failed, warned) = agree(&Config::default());
    // Not vacuous: fixtures that deny and fixtures that warn were compared.
    assert!(failed >= 5 && warned >= 2, "fail {failed}, warn {warned}");
}

#[test]
fn the_audit_finds_what_the_webhook_answers_with_every_rule_warning() {
    let policies: Vec<String> = RULES.iter().map(|r| format!("{}: warn", r.id)).collect();
    let cfg = Config::from_yaml(&format!("policies: {{{}}}", policies.join(", ")), "t").unwrap();
    let (failed, warned) = agree(&cfg);
    assert!(failed == 0 && warned >= 5, "fail {failed}, warn {warned}");
}
