//! `.ci/run` cannot be talked into green: every variable that would make the
//! suite check less is refused before anything runs, with the same message.

use std::process::Command;

/// The variables `.ci/run` refuses, each with a value that would check less.
const REFUSED: [(&str, &str); 10] = [
    ("LTG_E2E_ONLY", "6c"),
    ("LTG_RECORD", "1"),
    ("LTG_SERVE_BIN", "/usr/bin/true"),
    ("INSTA_UPDATE", "always"),
    ("INSTA_FORCE_PASS", "1"),
    ("KUBEBUILDER_ASSETS", "/nonexistent"),
    ("KUBEBUILDER_ASSETS_1_34", "/nonexistent"),
    ("PROPTEST_CASES", "0"),
    ("PROPTEST_MAX_SHRINK_ITERS", "0"),
    ("PROPTEST_MAX_GLOBAL_REJECTS", "0"),
];

fn ci_run(var: &str, value: &str) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run"));
    // Start from an environment with none of them, whatever the caller has.
    for (name, _) in std::env::vars() {
        if REFUSED.iter().any(|(r, _)| *r == name) || name.starts_with("PROPTEST_") {
            cmd.env_remove(&name);
        }
    }
    // No cargo on PATH: should a refusal go missing, the run stops at its
    // first step instead of starting the whole suite inside this test.
    cmd.env_remove("INSTA_UPDATE")
        .env("PATH", "/usr/bin:/bin")
        .env(var, value);
    cmd.output().expect("run bash .ci/run")
}

#[test]
fn each_variable_that_checks_less_is_refused_before_anything_runs() {
    for (var, value) in REFUSED {
        let out = ci_run(var, value);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{var}={value}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "{var}={value}: nothing ran"
        );
        assert_eq!(
            stderr,
            format!(
                "ci: refusing to run with {var} set: each makes the suite check less \
                 (a partial e2e run, rewritten recordings or snapshots, fewer property cases, \
                 an unpinned control plane, another binary than the one built); unset it\n"
            ),
        );
    }
}
