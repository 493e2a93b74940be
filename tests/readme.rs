//! The README is true: every `text` block that starts with a
//! `$ longhorn-talos-guard ...` command line shows exactly what that command
//! prints today (run from the repository root, as the README's paths are).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

#[test]
fn every_real_output_in_the_readme_is_what_the_command_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```text\n$ longhorn-talos-guard ") {
        let block = &rest[start + "```text\n$ ".len()..];
        let end = block.find("```").expect("a closed block");
        let (command, shown) = block[..end].split_once('\n').expect("a command line");
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(root)
            .env_remove("LTG_CONFIG")
            .env_remove("LTG_TALOS_CONFIG")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            shown,
            "the README's output of `{command}` is out of date"
        );
        checked += 1;
        rest = &block[end..];
    }
    assert!(checked >= 4, "only {checked} README outputs found");
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// `(code, severity)` of every table row `| LTG-T... | severity |` (README) or
/// `/// | `LTG-T...` | severity |` (the lint's doc table).
fn finding_rows(text: &str, prefix: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|l| {
            let mut cells = l.split('|').map(|c| c.trim().trim_matches('`'));
            let code = cells.next()?;
            let severity = cells.next()?;
            code.starts_with("LTG-T")
                .then(|| (code.to_string(), severity.to_string()))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_readmes_findings_table_is_the_lints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lint = std::fs::read_to_string(root.join("src/talos/lint.rs")).unwrap();
    let documented = finding_rows(&lint, "/// | ");
    assert!(documented.len() >= 25, "{documented:?}");
    assert_eq!(finding_rows(&readme(), "| "), documented);
    // Every code the lint can emit has a row, and every row a code.
    let mut codes: Vec<String> = lint
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split('"').nth(1))
        .filter(|c| c.starts_with("LTG-T"))
        .map(str::to_string)
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        documented
            .iter()
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_readmes_versions_are_the_codes() {
    use longhorn_talos_guard::base::longhorn::RELEASES;
    use longhorn_talos_guard::base::upstream::{ISCSI_TOOLS, READ};
    let readme = readme();
    assert!(
        readme.contains(&format!("Supported versions: Longhorn {RELEASES}, ")),
        "the README's supported-versions line does not name Longhorn {RELEASES}"
    );
    for r in READ {
        let row = format!("| {} | {} | {} | {} |", r.what, r.source, r.newest, r.note);
        assert!(readme.contains(&row), "the README lacks the row {row}");
    }
    for t in ISCSI_TOOLS {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let row = format!(
            "| {} | {} | {} | {} |",
            t.release,
            t.open_iscsi,
            yes(t.compat_patch),
            yes(!t.breaks_attach())
        );
        assert!(readme.contains(&row), "the README lacks the row {row}");
    }
}
