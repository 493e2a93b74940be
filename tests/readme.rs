//! The README is true: every `text` block that starts with a
//! `$ longhorn-talos-guard ...` command line shows exactly what that command
//! prints today (run from the repository root, as the README's paths are),
//! and every other block it calls real output is what `serve` answers or logs.

mod common;

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

/// The first three cells of every README table row whose first cell is an
/// ID of `prefix` (`LTG-W`), backquotes and bold marks dropped.
fn id_rows(text: &str, prefix: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| {
            let mut cells = l
                .split('|')
                .map(|c| c.trim().trim_matches('`').trim_matches('*').to_string());
            let id = cells.next()?;
            id.starts_with(prefix).then(|| {
                let second = cells.next().unwrap_or_default();
                (id, second, cells.next().unwrap_or_default())
            })
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_readmes_id_tables_are_the_catalogue() {
    use longhorn_talos_guard::catalogue::{Family, entries};
    let readme = readme();
    let of = |family| {
        let mut e: Vec<_> = entries()
            .into_iter()
            .filter(|e| e.family == family)
            .collect();
        e.sort_by_key(|e| e.id);
        e
    };
    // Rules: | ID | group (or "(by ID only)") | default mode | ...
    let rules: Vec<(String, String, String)> = of(Family::Rule)
        .iter()
        .map(|e| {
            let group = if e.name.is_empty() {
                "(by ID only)".to_string()
            } else {
                e.name.to_string()
            };
            (e.id.to_string(), group, e.level.to_string())
        })
        .collect();
    assert_eq!(id_rows(&readme, "LTG-W"), rules);
    // Status translations: one row each.
    let audit: Vec<String> = of(Family::Audit).iter().map(|e| e.id.to_string()).collect();
    let rows: Vec<String> = id_rows(&readme, "LTG-A").into_iter().map(|r| r.0).collect();
    assert_eq!(rows, audit);
    // Lint and preflight findings: | ID | severity | ...; and every code their
    // module defines is in the catalogue, and every entry a code.
    for (family, prefix, file, at_least) in [
        (Family::Lint, "LTG-T", "src/talos/lint.rs", 25),
        (Family::Preflight, "LTG-P", "src/preflight/mod.rs", 13),
    ] {
        let entries: Vec<(String, String)> = of(family)
            .iter()
            .map(|e| (e.id.to_string(), e.level.to_string()))
            .collect();
        assert!(entries.len() >= at_least, "{entries:?}");
        let rows: Vec<(String, String)> = id_rows(&readme, prefix)
            .into_iter()
            .map(|(id, severity, _)| (id, severity))
            .collect();
        assert_eq!(rows, entries, "the README's {prefix} table");
        let source =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let mut codes: Vec<String> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|c| c.starts_with(prefix))
            .map(str::to_string)
            .collect();
        codes.sort();
        let ids: Vec<String> = entries.into_iter().map(|e| e.0).collect();
        assert_eq!(codes, ids, "the codes of {file}");
    }
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

/// The text between `start` (which must be in the README) and the next
/// closing fence.
fn block_after<'a>(readme: &'a str, start: &str) -> &'a str {
    let (_, rest) = readme
        .split_once(start)
        .unwrap_or_else(|| panic!("the README no longer has {start:?}"));
    rest.split_once("```").expect("a closed block").0
}

/// Compact JSON laid out as `python3 -m json.tool` lays it out (four
/// spaces, `": "`, keys in their order; the guard writes ASCII only).
fn json_tool(compact: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' if matches!(chars.peek(), Some('}' | ']')) => {
                out.push(c);
                out.extend(chars.next());
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// The webhook outputs the README shows as real, from the binary as the
/// quick start runs it: the JSON answer to the Namespace fixture (laid out
/// as `python3 -m json.tool` does), the node denial's
/// `status.message` and its audit annotation, and the log line of a denial
/// (its `...` elisions stand for any text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_and_log_line_the_readme_shows_are_what_serve_gives() {
    use common::{Proto, https, review_fixture};
    use serde_json::Value;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let served = common::served::Served::start(&[]);
    let review = |body: Vec<u8>| {
        let (addr, ca) = (served.addr, served.ca.clone());
        async move {
            let a = https(addr, &ca, Proto::Http1, "POST", "/validate", body)
                .await
                .unwrap();
            assert_eq!(a.status, 200);
            a.json()
        }
    };

    // The quick start's answer.
    let shown = block_after(&readme, "python3 -m json.tool\n\nReal output:\n\n```json\n");
    let a = https(
        served.addr,
        &served.ca,
        Proto::Http1,
        "POST",
        "/validate",
        review_fixture("namespace-create-baseline"),
    )
    .await
    .unwrap();
    assert_eq!(
        json_tool(&String::from_utf8(a.body).unwrap()),
        shown,
        "the quick start's real output is out of date"
    );

    // The Longhorn node with two bad disks.
    let answer = review(review_fixture("lhnode-update-bad-disks")).await;
    assert_eq!(
        format!(
            "{}\n",
            answer["response"]["status"]["message"].as_str().unwrap()
        ),
        block_after(&readme, "`denied-by: LTG-W010`):\n\n```text\n"),
        "the node denial's real output is out of date"
    );
    assert_eq!(
        answer["response"]["auditAnnotations"]["denied-by"],
        "LTG-W010"
    );

    // The log line: the README's names (from the e2e test's rotation step) on
    // a dry-run CREATE of that node.
    let mut body: Value =
        serde_json::from_slice(&review_fixture("lhnode-update-bad-disks")).unwrap();
    let request = &mut body["request"];
    request["operation"] = "CREATE".into();
    request["dryRun"] = true.into();
    request["name"] = "e2e-rotation-bad".into();
    request["object"]["metadata"]["name"] = "e2e-rotation-bad".into();
    request["userInfo"]["username"] = "e2e-admin".into();
    request.as_object_mut().unwrap().remove("oldObject");
    review(serde_json::to_vec(&body).unwrap()).await;
    let (_, rest) = readme
        .split_once("(real line:\n  `")
        .expect("the README's log line");
    let line = rest.split_once('`').unwrap().0;
    let pieces: Vec<&str> = line.split("...").collect();
    let logged = served
        .wait_log(
            "name=\"e2e-rotation-bad\"",
            1,
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(logged.len(), 1, "one line per denial: {logged:?}");
    let mut at = logged[0]
        .find(pieces[0])
        .unwrap_or_else(|| panic!("the log line {:?} lacks {:?}", logged[0], pieces[0]));
    for piece in &pieces[1..] {
        at += logged[0][at..].find(piece).unwrap_or_else(|| {
            panic!(
                "the log line {:?} lacks {piece:?} after byte {at}",
                logged[0]
            )
        });
        at += piece.len();
    }
    assert!(
        logged[0].ends_with(pieces[pieces.len() - 1]),
        "{}",
        logged[0]
    );
}
