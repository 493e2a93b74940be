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

/// The module path of a file under `src/<top>/` (`policy/rules/mod.rs` ->
/// `policy::rules`, `policy/registry.rs` -> `policy::registry`).
fn sub_module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_string())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
    if stem != "mod" {
        parts.push(stem);
    }
    parts.join("::")
}

/// The text of a file without comments and without its `#[cfg(test)]` tail
/// (unit tests reach where production code does not).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The deepest known module `path` (`a::b::Item`) names, from `base`.
fn resolve(base: &[String], path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut at: Vec<String> = base.to_vec();
    let mut found = (!at.is_empty()).then(|| at.join("::"));
    for seg in path.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        match seg {
            "super" => {
                at.pop();
                found = Some(at.join("::"));
                continue;
            }
            "self" => continue,
            _ => {}
        }
        at.push(seg.to_string());
        if modules.contains(&at.join("::")) {
            found = Some(at.join("::"));
        } else {
            break;
        }
    }
    found.filter(|m| modules.contains(m))
}

/// `sub-module -> sub-modules of the same top-level module it names`, for
/// every file under `src/<top>/`: paths through `crate::<top>::`, `super::`,
/// `self::` and module names a `use` brought in, with one level of `{...}`.
/// Lines `pub mod` and `pub use` (declarations, re-exports) are not uses.
fn sub_graph(top: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src.join(top), &mut all);
    all.retain(|p| !p.components().any(|c| c.as_os_str() == "tests") && !p.ends_with("tests.rs"));
    let name_of = |p: &Path| {
        format!(
            "{top}::{}",
            sub_module_of(p.strip_prefix(src.join(top)).unwrap())
        )
        .trim_end_matches("::")
        .to_string()
    };
    let modules: BTreeSet<String> = all.iter().map(|p| name_of(p)).collect();
    let mut graph = BTreeMap::new();
    for path in &all {
        let me = name_of(path);
        let own: Vec<String> = me.split("::").map(str::to_string).collect();
        // A file `x.rs` (not `mod.rs`) is its own module; `super` is its parent.
        let code = code_of(path);
        // A module's children are in scope by their names.
        let mut aliases: BTreeMap<String, String> = modules
            .iter()
            .filter_map(|m| {
                let (parent, name) = m.rsplit_once("::")?;
                (parent == me).then(|| (name.to_string(), m.clone()))
            })
            .collect();
        let mut deps = BTreeSet::new();
        let note = |target: Option<String>, deps: &mut BTreeSet<String>| {
            if let Some(t) = target.filter(|t| *t != me) {
                deps.insert(t);
            }
        };
        for line in code.split(';') {
            let line = line.trim();
            if line.starts_with("pub mod")
                || line.starts_with("mod ")
                || line.starts_with("pub use")
            {
                continue;
            }
            let Some(rest) = line
                .strip_prefix("use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let (prefix, group) = match rest.split_once("::{") {
                Some((p, g)) => (p.to_string(), g.trim_end_matches('}').to_string()),
                None => (rest.to_string(), String::new()),
            };
            let base: Vec<String> = if let Some(p) = prefix.strip_prefix(&format!("crate::{top}")) {
                let mut b = vec![top.to_string()];
                b.extend(p.split("::").filter(|s| !s.is_empty()).map(str::to_string));
                b
            } else if prefix.starts_with("super") || prefix.starts_with("self") {
                let mut b = own.clone();
                for seg in prefix.split("::") {
                    match seg {
                        "super" => {
                            b.pop();
                        }
                        "self" => {}
                        s => b.push(s.to_string()),
                    }
                }
                b
            } else if let Some(m) = aliases.get(prefix.split("::").next().unwrap_or("")) {
                let mut b: Vec<String> = m.split("::").map(str::to_string).collect();
                b.extend(prefix.split("::").skip(1).map(str::to_string));
                b
            } else {
                continue;
            };
            let items: Vec<&str> = if group.is_empty() {
                vec![""]
            } else {
                group.split(',').collect()
            };
            for item in items {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                let target = resolve(
                    &base[..0],
                    &format!("{}::{item}", base.join("::")),
                    &modules,
                );
                if let Some(t) = &target {
                    let last = if item.is_empty() {
                        base.last().cloned().unwrap_or_default()
                    } else {
                        item.rsplit("::").next().unwrap_or("").to_string()
                    };
                    if t.ends_with(&format!("::{last}")) && last != "self" {
                        aliases.insert(last, t.clone());
                    }
                }
                note(target, &mut deps);
            }
        }
        // Paths in the code itself: `crate::<top>::a::b`, `super::a`, `alias::b`
        // (declarations and re-exports left out).
        let code: String = code
            .split(';')
            .filter(|st| {
                let st = st.trim_start();
                !(st.starts_with("pub use") || st.starts_with("pub mod") || st.starts_with("mod "))
            })
            .collect::<Vec<_>>()
            .join(";");
        for (i, _) in code.match_indices("::") {
            let start = code[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |s| s + 1);
            let end = code[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| i + e);
            let path = &code[start..end];
            if start
                != code[..i]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .map_or(0, |s| s + 1)
            {
                continue;
            }
            let first = path.split("::").next().unwrap_or("");
            let target = if let Some(p) = path.strip_prefix("crate::") {
                resolve(&[], p, &modules)
            } else if first == "super" || first == "self" {
                resolve(&own, path, &modules)
            } else if let Some(m) = aliases.get(first) {
                let rest = path.split_once("::").map_or("", |(_, r)| r);
                let base: Vec<String> = m.split("::").map(str::to_string).collect();
                resolve(&base, rest, &modules)
            } else {
                None
            };
            note(target, &mut deps);
        }
        graph.insert(me.clone(), deps);
    }
    graph
}

/// The modules of `graph` that sit on a circle (Kahn's algorithm).
fn on_circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut remaining = graph.clone();
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
        }
    }
    remaining.into_keys().collect()
}

#[test]
fn the_sub_modules_of_policy_and_audit_form_layers_without_circles() {
    for top in ["policy", "audit"] {
        let graph = sub_graph(top);
        for (m, deps) in &graph {
            println!(
                "{m:<36} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        assert!(graph.len() > 5, "{top}: {graph:?}");
        assert_eq!(
            on_circles(&graph),
            Vec::<String>::new(),
            "{top}: modules on a circle"
        );
    }
    let policy = sub_graph("policy");
    // The registry lists the rules; the rules use the interface, never the registry.
    assert!(
        policy["policy::registry"].contains("policy::rules::pod_tmpfs"),
        "{policy:?}"
    );
    for (m, deps) in &policy {
        if m.starts_with("policy::rules::") {
            assert!(
                deps.contains("policy::rule"),
                "{m} uses the rule interface: {deps:?}"
            );
            assert!(!deps.contains("policy::registry"), "{m} -> registry");
            // Each rule file goes back to its rule: what several rules read is
            // read through policy::writes, never through another rule's file.
            assert!(
                deps.iter().all(|d| !d.starts_with("policy::rules::")),
                "{m} imports another rule's file: {deps:?}"
            );
        }
    }
    let audit = sub_graph("audit");
    assert!(
        audit["audit::status"].contains("audit::finding"),
        "{audit:?}"
    );
    assert!(
        audit["audit::finding"]
            .iter()
            .all(|d| d == "audit::longhorn"),
        "{audit:?}"
    );
}

#[test]
fn the_sub_module_graph_sees_a_circle() {
    // The detector on a circle it must find: a <-> b, c alone.
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(on_circles(&graph), vec!["a", "b", "c"]);
}

#[test]
fn rules_read_what_a_request_writes_from_the_one_shape() {
    // Read once, judge many: what a request writes is read and each disk or
    // host path classified once per review (src/policy/writes.rs); a rule
    // file that reads or classifies on its own would do it again.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy/rules");
    let mut rule_files = Vec::new();
    files(&dir, &mut rule_files);
    assert!(rule_files.len() >= 10, "{rule_files:?}");
    let mut found = Vec::new();
    for path in rule_files {
        let code = code_of(&path);
        for reading in [
            "classify(",
            "data_path(",
            "check_block_path(",
            "containing_mount(",
            "HostPath::parse(",
            "node_disks(",
            "gojson::",
            "read_default_settings(",
            "Subject::LonghornNode",
            "Subject::ConfigMap",
            "Subject::Pod",
        ] {
            if code.contains(reading) {
                found.push(format!("{}: {reading}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "rules reading by hand: {found:#?}");
}
