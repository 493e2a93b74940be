//! A small, deterministic YAML writer for the generated policies: block
//! maps and lists, strings double-quoted (JSON escapes, valid YAML) or as
//! literal blocks for CEL expressions that span lines.

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A map, keys in the given order (keys are plain identifiers).
    Map(Vec<(&'static str, Node)>),
    /// A list.
    List(Vec<Node>),
    /// A string, double-quoted.
    Str(String),
    /// A string written as a literal block (`|-`) when it spans lines.
    Text(String),
}

/// A map node.
pub fn map(entries: Vec<(&'static str, Node)>) -> Node {
    Node::Map(entries)
}

/// A string node.
pub fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

/// A list of strings.
pub fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Node {
    Node::List(items.into_iter().map(|i| s(i.as_ref())).collect())
}

fn quoted(text: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::Value::from(text).to_string()
}

fn scalar(node: &Node, indent: usize) -> Option<String> {
    match node {
        Node::Str(t) => Some(quoted(t)),
        Node::Text(t) if t.contains('\n') && !t.lines().any(|l| l.ends_with([' ', '\t'])) => {
            let pad = " ".repeat(indent);
            let mut out = String::from("|-");
            for line in t.lines() {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&pad);
                    out.push_str(line);
                }
            }
            Some(out)
        }
        Node::Text(t) => Some(quoted(t)),
        Node::Map(m) if m.is_empty() => Some("{}".into()),
        Node::List(l) if l.is_empty() => Some("[]".into()),
        _ => None,
    }
}

fn write(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                match scalar(v, indent + 2) {
                    Some(text) => {
                        out.push(' ');
                        out.push_str(&text);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        let child = if matches!(v, Node::List(_)) {
                            indent
                        } else {
                            indent + 2
                        };
                        write(v, child, out);
                    }
                }
            }
        }
        Node::List(items) => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match scalar(item, indent + 2) {
                    Some(text) => {
                        out.push_str(&text);
                        out.push('\n');
                    }
                    None => {
                        let mut inner = String::new();
                        write(item, indent + 2, &mut inner);
                        // The first line goes after the dash.
                        out.push_str(inner.trim_start_matches(' '));
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other, indent).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// The YAML text of one document (without the `---` separator).
pub fn to_string(node: &Node) -> String {
    let mut out = String::new();
    write(node, 0, &mut out);
    out
}

/// The node as JSON (what the API server is sent).
pub fn to_json(node: &Node) -> serde_json::Value {
    match node {
        Node::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_string(), to_json(v)))
                .collect(),
        ),
        Node::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Node::Str(t) | Node::Text(t) => serde_json::Value::String(t.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_block_yaml_that_reads_back() {
        let doc = map(vec![
            ("kind", s("X")),
            (
                "spec",
                map(vec![
                    (
                        "list",
                        Node::List(vec![map(vec![("a", s("1")), ("b", strs(["x"]))])]),
                    ),
                    ("expr", Node::Text("a &&\n  b".into())),
                    ("empty", Node::List(vec![])),
                ]),
            ),
        ]);
        let text = to_string(&doc);
        assert_eq!(
            text,
            "kind: \"X\"\nspec:\n  list:\n  - a: \"1\"\n    b:\n    - \"x\"\n  expr: |-\n    a &&\n      b\n  empty: []\n"
        );
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["spec"]["expr"], "a &&\n  b");
        assert_eq!(back["spec"]["list"][0]["b"][0], "x");
    }
}
