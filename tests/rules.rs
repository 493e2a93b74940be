//! Fixtures per rule, enforced (as pod-security-admission's
//! `test/fixtures_test.go` fails a check without fixtures), for every ID of
//! the catalogue but the preflight's (LTG-P, read from a node through the
//! Talos API: tests/preflight.rs holds one scenario per code against the
//! Talos API double):
//! - every webhook rule (LTG-W...) fires (denies, warns or patches) on at
//!   least one review fixture of tests/fixtures/admission and runs without a
//!   word on at least one other;
//! - every `talos lint` code (LTG-T...) is found on at least one Talos
//!   fixture (tests/fixtures/talos, and the folders of
//!   tests/fixtures/talos/codes/) and not on another;
//! - every status translation (LTG-A...) has its fixture in
//!   tests/fixtures/audit while the healthy node gives none.
//!
//! The full text each ID gives on its fixtures is a snapshot named after it
//! (tests/snapshots/rules__LTG-W010.snap, rules__LTG-T001.snap,
//! rules__LTG-A001.snap).

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
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    for (id, name, _) in status::TRANSLATIONS {
        let mut text = String::new();
        for file in &files {
            for f in status::translate(&audit_fixture(file), &cfg)
                .into_iter()
                .filter(|f| f.policy == id)
            {
                text.push_str(&format!(
                    "== {file} ({:?}, {:?}, {}/{})\n{}\n",
                    f.result, f.severity, f.object.kind, f.object.name, f.message
                ));
            }
        }
        if text.is_empty() {
            missing.push(format!("{id} ({name})"));
            continue;
        }
        // The healthy node (above) is every translation's quiet fixture.
        insta::assert_snapshot!(id, format!("{text}== quiet on: healthy.yaml\n"));
    }
    assert!(
        missing.is_empty(),
        "translations without a fixture: {missing:?}"
    );
}

/// Every Talos fixture (tests/fixtures/talos), linted as `talos lint` does,
/// with and without `--v2`: `(run name, findings)`.
fn lint_runs() -> Vec<(String, Vec<longhorn_talos_guard::talos::Finding>)> {
    use longhorn_talos_guard::talos::{self, LintOptions};
    let yaml_in = |dir: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        files
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = common::fixture_path("talos");
    // Each whole-config fixture alone, then each folder of codes/ (its files merged).
    let mut inputs: Vec<(String, Vec<std::path::PathBuf>)> = yaml_in(&dir)
        .into_iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_str().unwrap().to_string(),
                vec![f],
            )
        })
        .collect();
    let mut folders: Vec<_> = std::fs::read_dir(dir.join("codes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let name = format!("codes/{}", folder.file_name().unwrap().to_str().unwrap());
        inputs.push((name, yaml_in(&folder)));
    }
    let mut runs = Vec::new();
    for (name, files) in inputs {
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|f| {
                let file = f.strip_prefix(root).unwrap().display().to_string();
                (file, std::fs::read_to_string(f).unwrap())
            })
            .collect();
        let Ok(config) = talos::load(&texts) else {
            continue;
        };
        for v2 in [false, true] {
            let options = LintOptions {
                v2,
                ..LintOptions::default()
            };
            let run = if v2 {
                format!("{name} --v2")
            } else {
                name.clone()
            };
            runs.push((run, longhorn_talos_guard::lint::lint(&config, &options)));
        }
        // A check asked for by a flag of its own: its folders are linted with it too.
        if name.starts_with("codes/talos-api-access") {
            let options = LintOptions {
                talos_api_access: Some("longhorn-talos-guard".to_string()),
                ..LintOptions::default()
            };
            runs.push((
                format!("{name} --talos-api-access"),
                longhorn_talos_guard::lint::lint(&config, &options),
            ));
        }
    }
    runs
}

#[test]
fn every_lint_code_has_a_finding_fixture_and_a_quiet_one_with_its_text() {
    use longhorn_talos_guard::catalogue::{Family, entries};
    use longhorn_talos_guard::talos::render_finding;
    let runs = lint_runs();
    let mut missing = Vec::new();
    for entry in entries().into_iter().filter(|e| e.family == Family::Lint) {
        // The first run it is found on, and the first it is not: a new
        // fixture that sorts later changes no snapshot (each fixture's whole
        // report is a messages__lint-* snapshot already).
        let mut found = String::new();
        let mut quiet = Vec::new();
        for (run, findings) in &runs {
            let text: String = findings
                .iter()
                .filter(|f| f.code == entry.id)
                .map(|f| render_finding(f) + "\n")
                .collect();
            if text.is_empty() {
                quiet.push(run.as_str());
            } else if found.is_empty() {
                found = format!("== {run}\n{text}");
            }
        }
        if found.is_empty() || quiet.is_empty() {
            missing.push(format!(
                "{}: found on {}, quiet on {} runs",
                entry.id,
                if found.is_empty() { "none" } else { "some" },
                quiet.len()
            ));
            continue;
        }
        let text = format!("{found}== quiet on (among others): {}\n", quiet[0]);
        insta::assert_snapshot!(entry.id, text);
    }
    assert!(
        missing.is_empty(),
        "lint codes without fixtures: {missing:#?}"
    );
}
