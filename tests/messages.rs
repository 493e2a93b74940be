//! Every full text a person reads, asserted exactly: the denial message and
//! warnings the webhook returns for each review fixture (enforce and warn
//! modes), and `talos lint`'s report for each Talos fixture. The expected
//! texts are insta snapshots in tests/snapshots/; a changed message shows as
//! a diff there (review with `cargo insta review`, or re-run with
//! `INSTA_UPDATE=always` and read the diff in git).

mod common;

use std::path::Path;
use std::time::Duration;

use common::FakeFacts;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::{Hugepages, Phase};
use longhorn_talos_guard::talos::{self, LintOptions};

/// Every review fixture (top level of tests/fixtures/admission), sorted.
fn review_fixtures() -> Vec<String> {
    let names = common::review_fixture_names();
    assert!(names.len() >= 10, "fixtures found: {names:?}");
    names
}

/// What kubectl would show for one review: decision, rule IDs, message, warnings.
async fn shown(name: &str, phase: Phase, cfg: &Config) -> String {
    let body = common::review_fixture(name);
    // A node with no hugepages, so the V2 rule has something to say.
    let facts = FakeFacts {
        answer: Hugepages::Known(0),
        delay: Duration::ZERO,
    };
    let done = pipeline::review(phase, &body, cfg, &facts)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let v = &done.verdict;
    let mut out = format!("decision: {}\n", done.decision);
    if !v.denied_by.is_empty() || !v.flagged_by.is_empty() {
        out.push_str(&format!(
            "rules: denied by [{}], flagged by [{}]\n",
            v.denied_by.join(", "),
            v.flagged_by.join(", ")
        ));
    }
    if let Some(message) = &v.denial {
        out.push_str("message:\n");
        out.push_str(message);
        out.push('\n');
    }
    for w in &v.warnings {
        assert!(
            w.chars().count() < 120,
            "{name}: warning over 119 characters: {w}"
        );
        out.push_str(&format!("warning: {w}\n"));
    }
    if !v.patch.is_empty() {
        out.push_str(&format!(
            "patch: {}\n",
            serde_json::to_string(&v.patch).unwrap()
        ));
    }
    out
}

#[tokio::test]
async fn webhook_texts_in_enforce_mode() {
    let cfg = Config::default();
    for name in review_fixtures() {
        let text = format!(
            "validate:\n{}\nmutate:\n{}",
            shown(&name, Phase::Validate, &cfg).await,
            shown(&name, Phase::Mutate, &cfg).await
        );
        insta::assert_snapshot!(format!("enforce-{name}"), text);
    }
}

#[tokio::test]
async fn webhook_texts_in_warn_mode() {
    let cfg = Config::from_yaml(
        "policies: {namespacePodSecurity: warn, diskPaths: warn, blockDisks: warn, podHostPaths: warn}",
        "warn everything",
    )
    .unwrap();
    for name in review_fixtures() {
        let text = shown(&name, Phase::Validate, &cfg).await;
        insta::assert_snapshot!(format!("warn-{name}"), text);
    }
}

#[test]
fn talos_lint_reports() {
    let dir = common::fixture_path("talos");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let file = Path::new("tests/fixtures/talos").join(path.file_name().unwrap());
        let report = match talos::load(&[(file.display().to_string(), text)]) {
            Ok(config) => talos::render_text(&longhorn_talos_guard::lint::lint(
                &config,
                &LintOptions::default(),
            )),
            Err(e) => format!("error: {e}\n"),
        };
        insta::assert_snapshot!(format!("lint-{name}"), report);
    }
}

#[tokio::test]
async fn hugepages_fix_follows_the_configured_minimum() {
    // The page count is v2MinHugepages / 2 MiB (Longhorn's data-engine-memory-size),
    // not a fixed 1024.
    let cfg = Config::from_yaml("v2MinHugepages: 4Gi", "4Gi").unwrap();
    let text = shown("lhnode-create-block", Phase::Validate, &cfg).await;
    insta::assert_snapshot!("enforce-lhnode-create-block-4Gi", text);
}

#[test]
fn check_report_of_the_manifest_fixtures() {
    use longhorn_talos_guard::check;
    let inputs =
        check::read_inputs(&[Path::new("tests/fixtures/manifests").to_path_buf()]).unwrap();
    let results = check::check(&inputs, &Config::default(), "default").unwrap();
    insta::assert_snapshot!("check-manifests", check::render(&results));
}
