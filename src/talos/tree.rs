//! YAML documents as generic trees that keep, for every node, the line it
//! was written on and the document it came from, so that values still point
//! at their source after Talos's patch merge ([`super::patch`]) has moved
//! them between documents.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// The most nodes one file may expand to (aliases included): a guard against
/// alias bombs, far above any machine config.
const MAX_NODES: usize = 200_000;

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// What the node holds.
    pub(crate) value: Value,
    /// The 1-based line the node starts on.
    pub(crate) line: u64,
    /// The index, in the loaded config's `documents`, of the document the
    /// node was written in.
    pub(crate) doc: usize,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `null`, `~`, or nothing.
    Null,
    /// A scalar as written (after YAML escapes), and whether it was plain
    /// (unquoted, untagged), which decides how YAML resolves its type.
    Scalar(String, bool),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written; keys are read as their text.
    Map(Vec<(String, Node)>),
}

/// A parse failure: the parser's message and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeError {
    pub(crate) message: String,
    pub(crate) line: Option<u64>,
    pub(crate) column: Option<u64>,
}

impl Node {
    pub(crate) fn new(value: Value, line: u64, doc: usize) -> Node {
        Node { value, line, doc }
    }

    /// The value under `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value under `key` of a mapping, mutable.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a path of mapping keys.
    pub(crate) fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    /// The text of a scalar (not of null).
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar Talos reads into a Go string field: empty reads
    /// as unset, as Go cannot tell them apart.
    pub(crate) fn string(&self) -> Option<&str> {
        self.text().filter(|s| !s.is_empty())
    }

    /// The entries of a mapping (none for anything else).
    pub(crate) fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a sequence (none for anything else).
    pub(crate) fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The type YAML 1.2's core schema (what Talos's YAML library uses)
    /// resolves a scalar to.
    pub(crate) fn scalar_type(&self) -> ScalarType {
        match &self.value {
            Value::Null => ScalarType::Null,
            Value::Scalar(s, true) => resolve_plain(s),
            Value::Scalar(..) => ScalarType::Str,
            Value::Seq(_) => ScalarType::Seq,
            Value::Map(_) => ScalarType::Map,
        }
    }

    /// The number of nodes in the tree.
    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.count()).sum(),
            _ => 0,
        }
    }
}

/// What a node resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarType {
    Null,
    Bool(bool),
    /// An integer or float, and whether it is zero.
    Number(bool),
    Str,
    Seq,
    Map,
}

/// The core-schema type of a plain scalar.
fn resolve_plain(s: &str) -> ScalarType {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarType::Null,
        "true" | "True" | "TRUE" => return ScalarType::Bool(true),
        "false" | "False" | "FALSE" => return ScalarType::Bool(false),
        _ => {}
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let int = if let Some(hex) = s.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = s.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()
    } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        unsigned.parse::<u64>().ok().or(Some(1))
    } else {
        None
    };
    if let Some(n) = int {
        return ScalarType::Number(n == 0);
    }
    let float_like = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|b| b.is_ascii_digit());
    if float_like && let Ok(f) = s.parse::<f64>() {
        return ScalarType::Number(f == 0.0);
    }
    if matches!(
        unsigned,
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    ) {
        return ScalarType::Number(false);
    }
    ScalarType::Str
}

/// Parses a YAML stream into its documents (empty ones left out), each with
/// the line its content starts on. `first_doc` is the document index the
/// first document gets in the loaded config (see [`Node::doc`]). The stream
/// must already have been checked for syntax errors; a failure here is
/// still reported, not assumed away.
pub(crate) fn parse_stream(text: &str, first_doc: usize) -> Result<Vec<Node>, TreeError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut anchors: Vec<Option<Node>> = Vec::new();
    let mut budget = MAX_NODES;
    // Open collections: the node under construction and, for a mapping, the
    // key waiting for its value.
    enum Open {
        Seq(Node),
        Map(Node, Option<String>),
    }
    let mut stack: Vec<(Open, usize)> = Vec::new();
    let mut root: Option<Node> = None;
    let doc = |docs: &Vec<Node>| first_doc + docs.len();
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| TreeError {
            message: e.info().to_string(),
            line: Some(e.marker().line() as u64),
            column: Some(e.marker().col() as u64 + 1),
        })?;
        let line = span.start.line() as u64;
        let mut finished: Option<(Node, usize)> = None;
        match event {
            Event::DocumentStart(..) => {
                anchors.clear();
                root = None;
            }
            Event::DocumentEnd => {
                if let Some(node) = root.take()
                    && !node.is_null()
                {
                    docs.push(node);
                }
            }
            Event::Scalar(s, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let is_null = (plain && resolve_plain(&s) == ScalarType::Null)
                    || tag
                        .as_ref()
                        .is_some_and(|t| t.is_yaml_core_schema_tag("null"));
                let value = if is_null {
                    Value::Null
                } else {
                    Value::Scalar(s.into_owned(), plain)
                };
                finished = Some((Node::new(value, line, doc(&docs)), anchor));
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push((
                    Open::Seq(Node::new(Value::Seq(Vec::new()), line, doc(&docs))),
                    anchor,
                ));
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push((
                    Open::Map(Node::new(Value::Map(Vec::new()), line, doc(&docs)), None),
                    anchor,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((open, anchor)) = stack.pop() {
                    let node = match open {
                        Open::Seq(n) | Open::Map(n, _) => n,
                    };
                    finished = Some((node, anchor));
                }
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(id)
                    .and_then(Option::as_ref)
                    .cloned()
                    .ok_or_else(|| TreeError {
                        message: "an alias refers to an unknown anchor".to_string(),
                        line: Some(line),
                        column: None,
                    })?;
                let n = node.count();
                if n > budget {
                    return Err(TreeError {
                        message: format!(
                            "the aliases expand to more than {MAX_NODES} nodes; a Talos machine config is far smaller, so this is not read"
                        ),
                        line: Some(line),
                        column: None,
                    });
                }
                budget -= n;
                finished = Some((node, 0));
            }
            _ => {}
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        if budget == 0 {
            return Err(TreeError {
                message: format!("more than {MAX_NODES} YAML nodes in one file"),
                line: Some(line),
                column: None,
            });
        }
        budget -= 1;
        if anchor > 0 {
            if anchors.len() <= anchor {
                anchors.resize(anchor + 1, None);
            }
            anchors[anchor] = Some(node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some((Open::Seq(seq), _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some((Open::Map(map, key), _)) => match key.take() {
                None => {
                    *key = Some(match &node.value {
                        Value::Scalar(s, _) => s.clone(),
                        Value::Null => String::new(),
                        _ => "?".to_string(),
                    });
                }
                Some(k) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_documents_and_aliases() {
        let text =
            "# c\na: 1\nb:\n  - x\n  - &y {k: v}\nc: *y\n---\n---\nd: ''\ne: null\nf: '0x10'\n";
        let docs = parse_stream(text, 3).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 2);
        assert_eq!(docs[0].doc, 3);
        assert_eq!(docs[1].doc, 4);
        assert_eq!(docs[0].get("b").unwrap().items()[1].line, 5);
        assert_eq!(docs[0].at(&["c", "k"]).unwrap().text(), Some("v"));
        assert_eq!(docs[1].get("d").unwrap().scalar_type(), ScalarType::Str);
        assert!(docs[1].get("e").unwrap().is_null());
        assert_eq!(docs[1].get("f").unwrap().text(), Some("0x10"));
    }

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("0"), ScalarType::Number(true));
        assert_eq!(resolve_plain("0x0"), ScalarType::Number(true));
        assert_eq!(resolve_plain("1024"), ScalarType::Number(false));
        assert_eq!(resolve_plain("0.0"), ScalarType::Number(true));
        assert_eq!(resolve_plain("false"), ScalarType::Bool(false));
        assert_eq!(resolve_plain("on"), ScalarType::Str);
        assert_eq!(resolve_plain("~"), ScalarType::Null);
        assert_eq!(resolve_plain("/var/lib"), ScalarType::Str);
        assert_eq!(resolve_plain("1.2.3"), ScalarType::Str);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_stream(&text, 0).unwrap_err();
        assert!(err.message.contains("nodes"), "{err:?}");
    }
}
