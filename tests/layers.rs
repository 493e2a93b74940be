//! The library's modules form layers without circles: no top-level module
//! reaches, through `crate::` paths, a module that reaches it back. Run with
//! `--nocapture` to print the dependency graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to (`src/policy/rules/x.rs` -> `policy`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "cli")).then(|| name.to_string())
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `module -> modules it names as crate::<module>`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<String> = all
        .iter()
        .filter_map(|p| module_of(p.strip_prefix(&src).unwrap()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for path in &all {
        let Some(from) = module_of(path.strip_prefix(&src).unwrap()) else {
            continue;
        };
        // Comments (doc links included) name modules without depending on them.
        let text: String = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            if name != from && modules.contains(&name) {
                graph.get_mut(&from).unwrap().insert(name);
            }
        }
    }
    graph
}

#[test]
fn modules_form_layers_without_circles() {
    let graph = graph();
    for (m, deps) in &graph {
        println!(
            "{m:<12} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // Kahn's algorithm: whatever cannot be ordered sits on a circle.
    let mut remaining = graph.clone();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for m in ready {
            remaining.remove(&m);
            order.push(m);
        }
    }
    println!("layers, bottom up: {}", order.join(" < "));
    assert!(
        remaining.is_empty(),
        "modules on a circle: {:?}",
        remaining.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_leaf_and_the_rules_stay_where_they_belong() {
    let graph = graph();
    assert!(
        graph["base"].is_empty(),
        "base is a leaf: {:?}",
        graph["base"]
    );
    for below in ["base", "config", "talos", "policy"] {
        for above in [
            "server",
            "pipeline",
            "check",
            "lint",
            "audit",
            "source",
            "selfmanaged",
        ] {
            assert!(
                !graph[below].contains(above),
                "{below} must not depend on {above}"
            );
        }
    }
    // The audit is a front end between lint and server: it reads the
    // pipeline, check and the rules, and nothing below depends on it.
    assert!(
        !graph["audit"].contains("server") && !graph["server"].contains("audit"),
        "audit and the server are separate front ends: audit {:?}",
        graph["audit"]
    );
    assert!(
        !graph["policy"].contains("talos") && !graph["talos"].contains("policy"),
        "rules and Talos reading are separate: policy {:?}, talos {:?}",
        graph["policy"],
        graph["talos"]
    );
}
