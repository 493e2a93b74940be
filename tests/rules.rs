//! Fixtures per rule, enforced (as pod-security-admission's
//! `test/fixtures_test.go` fails a check without fixtures): every webhook rule
//! (LTG-W...) fires (denies, warns or patches) on at least one review fixture
//! of tests/fixtures/admission and runs without a word on at least one other,
//! and every status translation (LTG-A...) has its fixture in
//! tests/fixtures/audit while the healthy node gives none. The full text of
//! each rule's own answer on its fixtures is a snapshot named after the rule
//! (tests/snapshots/rules__LTG-W0xx.snap), read from the per-rule judgement.

mod common;

use std::path::Path;

use longhorn_talos_guard::admission;
use longhorn_talos_guard::audit::status;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::host::ReportedVolumes;
use longhorn_talos_guard::policy::{self, Facts, Hugepages, RULES, RuleDecision};
use serde_json::Value;

#[test]
fn every_webhook_rule_has_a_firing_and_a_quiet_fixture_with_its_text() {
    let cfg = Config::default();
    // A node with no hugepages, so that LTG-W020 has something to say, and
    // whose Talos reports only EPHEMERAL (no user volume), so that LTG-W015
    // has (TALOS-API.md: volume ids EPHEMERAL, u-<name>).
    let facts = Facts {
        hugepages: Some(Hugepages::Known(0)),
        node_volumes: Some(ReportedVolumes {
            volumes: vec![("EPHEMERAL".into(), "ready".into(), "partition".into())],
            mounts: vec![("EPHEMERAL".into(), "/var".into())],
        }),
    };
    let mut missing = Vec::new();
    for rule in RULES {
        let mut fired = String::new();
        let mut quiet = Vec::new();
        for name in common::review_fixture_names() {
            let body = common::review_fixture(&name);
            let decoded = admission::decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let Some(req) = &decoded.request else {
                continue;
            };
            let judgement = policy::judge(rule.phase, req, &cfg, &facts);
            let Some(result) = judgement.of(rule) else {
                continue;
            };
            let decision = result.decision();
            if decision == RuleDecision::Passed {
                quiet.push(name);
                continue;
            }
            let answer = result.answer(cfg.host.as_ref());
            fired.push_str(&format!(
                "== {name} ({}, {:?})\n",
                decision.as_str(),
                result.mode
            ));
            if let Some(denial) = &answer.denial {
                fired.push_str(&format!("denial:\n{denial}\n"));
            }
            for w in &answer.warnings {
                fired.push_str(&format!("warning: {w}\n"));
            }
            if !result.outcome.patch.is_empty() {
                let patch = serde_json::to_string(&result.outcome.patch).unwrap();
                fired.push_str(&format!("patch: {patch}\n"));
            }
        }
        if fired.is_empty() || quiet.is_empty() {
            missing.push(format!(
                "{}: fires on {}, quiet on {quiet:?}",
                rule.id,
                if fired.is_empty() { "none" } else { "some" }
            ));
            continue;
        }
        let text = format!("{fired}== quiet on: {}\n", quiet.join(", "));
        insta::assert_snapshot!(rule.id, text);
    }
    assert!(missing.is_empty(), "rules without fixtures: {missing:#?}");
}

fn audit_fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_status_translation_has_its_fixture_and_the_healthy_node_none() {
    // Each fixture is named after its translation's short name
    // (tests/fixtures/audit/README.md); its full text is the audit__<name>
    // snapshot asserted by tests/audit.rs.
    let cfg = Config::default();
    assert_eq!(
        status::translate(&audit_fixture("healthy.yaml"), &cfg),
        vec![],
        "healthy.yaml"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit");
    let mut missing = Vec::new();
    for (id, name, _) in status::TRANSLATIONS {
        let found: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.ends_with(".yaml"))
            .flat_map(|f| status::translate(&audit_fixture(&f), &cfg))
            .filter(|f| f.policy == id)
            .collect();
        if found.is_empty() {
            missing.push(format!("{id} ({name})"));
        }
    }
    assert!(
        missing.is_empty(),
        "translations without a fixture: {missing:?}"
    );
}
