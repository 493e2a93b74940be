//! Talos's patch semantics on YAML trees, as `configpatcher` applies them
//! (talos pkg/machinery v1.14.1 `config/configpatcher`, `config/merge`,
//! `config/configloader/internal/decoder/delete.go`, `selector.go`):
//! documents matched on apiVersion + kind + name, maps merged field by field,
//! zero values never overwriting, lists appended (admission plugins merged by
//! name), `$patch: delete` selectors, and JSON6902 patches on single-document
//! configs. tests/talos_oracle.rs holds this against Talos's own code.

use super::tree::{Node, ScalarType, Value};

/// One document of the merged config.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Doc {
    /// `apiVersion` (empty for the legacy document).
    pub(crate) api_version: String,
    /// `kind` (`v1alpha1` for the legacy document).
    pub(crate) kind: String,
    /// `name`, for named documents.
    pub(crate) name: Option<String>,
    /// The document's content.
    pub(crate) node: Node,
    /// The index (in the loaded config's documents) of the last document
    /// merged into this one.
    pub(crate) last: usize,
}

/// The kind Talos gives the legacy document.
pub(crate) const LEGACY: &str = "v1alpha1";

impl Doc {
    /// Reads a document's identity the way Talos's decoder does.
    pub(crate) fn new(node: Node) -> Doc {
        let field = |k: &str| node.get(k).and_then(Node::text).map(str::to_string);
        let kind = field("kind");
        let legacy = kind.is_none()
            && ["machine", "cluster", "debug", "persist", "version"]
                .iter()
                .any(|k| node.get(k).is_some());
        let (api_version, kind) = if legacy {
            (String::new(), LEGACY.to_string())
        } else {
            (
                field("apiVersion").unwrap_or_default(),
                kind.unwrap_or_default(),
            )
        };
        let name = if legacy { None } else { field("name") };
        Doc {
            api_version,
            kind,
            name,
            last: node.doc,
            node,
        }
    }

    fn same_id(&self, api_version: &str, kind: &str, name: Option<&str>) -> bool {
        self.api_version == api_version && self.kind == kind && self.name.as_deref() == name
    }
}

/// A `$patch: delete` found in a patch document.
#[derive(Debug, Clone, PartialEq)]
struct Selector {
    path: Vec<String>,
    api_version: String,
    kind: String,
    name: Option<String>,
    /// For a list item: the item's first key and its value.
    item: Option<(String, String)>,
}

/// What one patch document turns into: its delete selectors, in the order
/// written, then what is left of it to merge.
enum Step {
    Delete(Selector),
    Merge(Node),
}

fn is_delete_marker(key: &str, value: &Node) -> bool {
    key == "$patch" && value.text() == Some("delete")
}

/// Finds the `$patch: delete` markers (Talos's `processNode`): each becomes a
/// selector and is cut out of the tree, with the maps and lists it empties.
/// Returns whether `node` itself is to be removed.
fn collect_deletes(
    node: &mut Node,
    in_seq: bool,
    path: &mut Vec<String>,
    root: &Node,
    out: &mut Vec<Selector>,
) -> Result<bool, String> {
    match &mut node.value {
        Value::Map(entries) => {
            if let Some(pos) = entries.iter().position(|(k, v)| is_delete_marker(k, v)) {
                let item =
                    if in_seq {
                        let first = entries.iter().enumerate().find(|(i, _)| *i != pos).map(
                            |(_, (k, v))| (k.clone(), v.text().unwrap_or_default().to_string()),
                        );
                        Some(first.ok_or_else(|| {
                            format!(
                                "no key:val found in sequence node for path {}",
                                path.join(".")
                            )
                        })?)
                    } else {
                        if path.iter().any(|p| p.starts_with('[')) {
                            return Err(format!(
                                "cannot delete an inner key in '{}'",
                                path.join(".")
                            ));
                        }
                        None
                    };
                out.push(selector(path, root, item)?);
                return Ok(true);
            }
            let mut i = 0;
            while i < entries.len() {
                path.push(entries[i].0.clone());
                let root_view = root;
                let gone = collect_deletes(&mut entries[i].1, false, path, root_view, out)?;
                path.pop();
                if gone {
                    entries.remove(i);
                    if entries.is_empty() {
                        return Ok(true);
                    }
                } else {
                    i += 1;
                }
            }
            Ok(false)
        }
        Value::Seq(items) => {
            let mut i = 0;
            let mut index = 0;
            while i < items.len() {
                path.push(format!("[{index}]"));
                let gone = collect_deletes(&mut items[i], true, path, root, out)?;
                path.pop();
                index += 1;
                if gone {
                    items.remove(i);
                    if items.is_empty() {
                        return Ok(true);
                    }
                } else {
                    i += 1;
                }
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

fn selector(
    path: &[String],
    root: &Node,
    item: Option<(String, String)>,
) -> Result<Selector, String> {
    let field = |k: &str| {
        root.get(k)
            .and_then(Node::text)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if path.is_empty() && (api_version.is_empty() || kind.is_empty()) {
        let missing = if kind.is_empty() {
            "kind"
        } else {
            "apiVersion"
        };
        return Err(format!(
            "missing {missing} in document for which $patch: delete is used"
        ));
    }
    let (api_version, kind) = match (api_version.is_empty(), kind.is_empty()) {
        (true, true) => (String::new(), LEGACY.to_string()),
        (false, false) => (api_version, kind),
        _ => {
            return Err(format!(
                "kind and apiVersion must be both set for path {}",
                path.join(".")
            ));
        }
    };
    let name = Some(field("name")).filter(|n| !n.is_empty());
    Ok(Selector {
        path: path.to_vec(),
        api_version,
        kind,
        name,
        item,
    })
}

/// True when only `version`, `kind` and `name` are left (Talos's `isEmptyDoc`).
fn is_empty_doc(node: &Node) -> bool {
    match &node.value {
        Value::Map(entries) => entries.iter().all(|(k, v)| {
            matches!(v.value, Value::Scalar(..) | Value::Null)
                && matches!(k.as_str(), "version" | "kind" | "name")
        }),
        _ => false,
    }
}

/// Splits a patch document into its steps.
fn steps(mut node: Node) -> Result<Vec<Step>, String> {
    let root = node.clone();
    let mut selectors = Vec::new();
    let gone = collect_deletes(&mut node, false, &mut Vec::new(), &root, &mut selectors)?;
    let mut out: Vec<Step> = selectors.into_iter().map(Step::Delete).collect();
    if !gone && !is_empty_doc(&node) {
        out.push(Step::Merge(node));
    }
    Ok(out)
}

/// Kinds of values whose Go type in Talos merges in its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A struct or map merged field by field (the default).
    Fields,
    /// `map[string]string`: every key kept; an empty string never overwrites.
    StringMap,
    /// `meta.Unstructured` (`map[string]any`): merged by value type; a type
    /// change is an error.
    Unstructured,
    /// A list Talos replaces rather than appends (`merge:"replace"`).
    ReplaceList,
    /// A value Talos replaces even with an unset one (a type with its own
    /// `Merge`: CEL expressions, `minSize`'s ByteSize; `maxSize` is a Size of
    /// pointers, which an unset value leaves alone).
    AlwaysReplace,
    /// A list whose entries merge by one key (`cluster.apiServer.admissionControl`
    /// by plugin `name`, an extension service's `configFiles` by `mountPath`).
    KeyedList(&'static str),
}

/// The rule for a path (`kind`, then keys; list items as `[]`).
fn rule(path: &[&str]) -> Rule {
    match path {
        [
            LEGACY,
            "machine",
            "sysctls" | "nodeLabels" | "nodeAnnotations" | "nodeTaints",
        ]
        | ["SysctlConfig", "params"]
        | ["KubeNodeConfig", "labels" | "annotations" | "taints"] => Rule::StringMap,
        [LEGACY, "cluster", "apiServer", "admissionControl"] => Rule::KeyedList("name"),
        ["ExtensionServiceConfig", "configFiles"] => Rule::KeyedList("mountPath"),
        [
            LEGACY,
            "cluster",
            "apiServer",
            "admissionControl",
            "[]",
            "configuration",
        ]
        | ["KubeAdmissionControlConfig", "configuration"]
        | ["KubeletConfig", "config"]
        | [LEGACY, "machine", "kubelet", "extraConfig"] => Rule::Unstructured,
        [
            LEGACY,
            "cluster",
            "network",
            "podSubnets" | "serviceSubnets",
        ]
        | ["KubeNetworkConfig", "podSubnets" | "serviceSubnets"]
        | [LEGACY, "cluster", "apiServer", "auditPolicy"] => Rule::ReplaceList,
        [_, "provisioning", "diskSelector", "match"]
        | [_, "provisioning", "minSize"]
        | [_, "volumeDiscovery", "volumeSelector", "match"] => Rule::AlwaysReplace,
        _ => Rule::Fields,
    }
}

/// The fields Talos replaces on every merge of a document of `kind`, set or
/// not (value structs all the way down to a type with its own `Merge`).
fn always_replaced(kind: &str) -> &'static [&'static [&'static str]] {
    match kind {
        "UserVolumeConfig" | "RawVolumeConfig" | "VolumeConfig" | "SwapVolumeConfig" => &[
            &["provisioning", "diskSelector", "match"],
            &["provisioning", "minSize"],
        ],
        "UnattendedInstallConfig" => &[&["provisioning", "diskSelector", "match"]],
        "ExistingVolumeConfig" => &[&["volumeDiscovery", "volumeSelector", "match"]],
        _ => &[],
    }
}

/// True when a right-hand scalar leaves the left value alone: null, an
/// empty string, or a zero number (Talos's "zero values never overwrite";
/// `false` always overwrites).
fn is_zero(node: &Node) -> bool {
    match node.scalar_type() {
        ScalarType::Null => true,
        ScalarType::Number(zero) => zero,
        ScalarType::Str => node.text() == Some(""),
        ScalarType::Bool(_) => false,
        ScalarType::Seq => node.items().is_empty(),
        ScalarType::Map => node.entries().is_empty(),
    }
}

/// The Go type name Talos's error message gives a `map[string]any` value.
fn go_type(node: &Node) -> &'static str {
    match node.scalar_type() {
        ScalarType::Null => "<nil>",
        ScalarType::Bool(_) => "bool",
        ScalarType::Number(_) => {
            let t = node.text().unwrap_or_default();
            if t.contains(['.', 'e', 'E']) && !t.starts_with("0x") {
                "float64"
            } else {
                "int"
            }
        }
        ScalarType::Str => "string",
        ScalarType::Seq => "[]interface {}",
        ScalarType::Map => "map[string]interface {}",
    }
}

/// Merges `right` into `left` at `path` (Talos's `merge.Merge`).
fn merge(left: &mut Node, right: Node, path: &mut Vec<String>) -> Result<(), String> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    let r = rule(&keys);
    drop(keys);
    match r {
        Rule::AlwaysReplace => {
            *left = right;
            return Ok(());
        }
        Rule::ReplaceList => {
            if !is_zero(&right) {
                *left = right;
            }
            return Ok(());
        }
        Rule::KeyedList(key) => return merge_keyed(left, right, key, path),
        Rule::Unstructured => return merge_any(left, right),
        Rule::StringMap => {
            let Value::Map(entries) = right.value else {
                return Ok(());
            };
            if !matches!(left.value, Value::Map(_)) {
                left.value = Value::Map(Vec::new());
            }
            for (k, v) in entries {
                match left.get_mut(&k) {
                    // A Go string: only "" (or null) is zero; `0` is the text "0".
                    Some(l) if !l.is_null() => {
                        if !(v.is_null() || v.text() == Some("")) {
                            *l = v;
                        }
                    }
                    Some(l) => *l = v,
                    None => push(left, k, v),
                }
            }
            return Ok(());
        }
        Rule::Fields => {}
    }
    match right.value {
        Value::Map(entries) => {
            if !matches!(left.value, Value::Map(_)) {
                if entries.is_empty() {
                    return Ok(());
                }
                left.value = Value::Map(Vec::new());
                left.line = right.line;
                left.doc = right.doc;
            }
            for (k, v) in entries {
                path.push(k.clone());
                match left.get_mut(&k) {
                    Some(l) if !l.is_null() => merge(l, v, path)?,
                    Some(l) => *l = v,
                    None => push(left, k, v),
                }
                path.pop();
            }
        }
        Value::Seq(items) => {
            if items.is_empty() && !left.is_null() {
                return Ok(());
            }
            match &mut left.value {
                Value::Seq(l) => l.extend(items),
                _ => {
                    left.value = Value::Seq(items);
                    left.line = right.line;
                    left.doc = right.doc;
                }
            }
        }
        _ => {
            if !is_zero(&right) || left.is_null() {
                *left = right;
            }
        }
    }
    Ok(())
}

fn push(map: &mut Node, key: String, value: Node) {
    if let Value::Map(entries) = &mut map.value {
        entries.push((key, value));
    }
}

/// `AdmissionPluginConfigList.Merge`, `ConfigFileList.Merge`: an entry whose
/// `key` matches an earlier one merges into it, any other is appended.
fn merge_keyed(
    left: &mut Node,
    right: Node,
    key: &str,
    path: &mut Vec<String>,
) -> Result<(), String> {
    let Value::Seq(items) = right.value else {
        return Ok(());
    };
    if !matches!(left.value, Value::Seq(_)) {
        left.value = Value::Seq(Vec::new());
        left.line = right.line;
        left.doc = right.doc;
    }
    for item in items {
        let name = item
            .get("name")
            .and_then(Node::text)
            .unwrap_or_default()
            .to_string();
        let Value::Seq(existing) = &mut left.value else {
            break;
        };
        match existing
            .iter_mut()
            .find(|e| e.get(key).and_then(Node::text).unwrap_or_default() == name)
        {
            Some(e) => {
                path.push("[]".to_string());
                let result = merge(e, item, path);
                path.pop();
                result?;
            }
            None => existing.push(item),
        }
    }
    Ok(())
}

/// `map[string]any` merge: values of one type merge (maps by key, lists
/// appended, scalars unless zero), a change of type is an error.
fn merge_any(left: &mut Node, right: Node) -> Result<(), String> {
    if right.is_null() || (matches!(right.value, Value::Map(ref e) if e.is_empty())) {
        return Ok(());
    }
    if left.is_null() {
        *left = right;
        return Ok(());
    }
    match (&mut left.value, right.value) {
        (Value::Map(_), Value::Map(entries)) => {
            for (k, v) in entries {
                match left.get_mut(&k) {
                    Some(l) if !l.is_null() => {
                        let (lt, rt) = (go_type(l), go_type(&v));
                        if lt != rt && !v.is_null() {
                            return Err(format!(
                                "merge map key map[string]interface {{}}[{k}]: merge type mismatch left {lt} right {rt}"
                            ));
                        }
                        merge_any(l, v)?;
                    }
                    Some(l) => *l = v,
                    None => push(left, k, v),
                }
            }
        }
        (Value::Seq(l), Value::Seq(items)) => l.extend(items),
        (_, value) => {
            let right = Node {
                value,
                line: right.line,
                doc: right.doc,
            };
            if !is_zero(&right) {
                *left = right;
            }
        }
    }
    Ok(())
}

/// Merges a patch document into the document it matches.
fn merge_document(left: &mut Doc, right: Node) -> Result<(), String> {
    let kind = left.kind.clone();
    for field in always_replaced(&kind) {
        let value = right.at(field).cloned();
        set_path(&mut left.node, field, value);
    }
    left.last = right.doc;
    let mut path = vec![kind];
    merge(&mut left.node, right, &mut path)
}

/// Sets (or, with `None`, removes) the value at a path of mapping keys.
fn set_path(node: &mut Node, path: &[&str], value: Option<Node>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = node;
    for key in parents {
        if at.get(key).is_none() {
            let Some(v) = &value else { return };
            push(
                at,
                key.to_string(),
                Node::new(Value::Map(Vec::new()), v.line, v.doc),
            );
        }
        match at.get_mut(key) {
            Some(next) if matches!(next.value, Value::Map(_)) => at = next,
            _ => return,
        }
    }
    if let Value::Map(entries) = &mut at.value {
        entries.retain(|(k, _)| k != last);
        if let Some(v) = value {
            entries.push((last.to_string(), v));
        }
    }
}

/// The Go field kinds `deleteForPath` meets on the way: a map key must
/// exist to be deleted, a struct field need not.
fn is_map(kind: &str, path: &[String]) -> bool {
    let keys: Vec<&str> = std::iter::once(kind)
        .chain(path.iter().map(String::as_str))
        .collect();
    let parent = &keys[..keys.len() - 1];
    matches!(rule(parent), Rule::StringMap)
        || (1..=parent.len()).any(|i| matches!(rule(&parent[..i]), Rule::Unstructured))
}

/// Applies a delete selector to a document (Talos's `deleteForPath`).
fn delete(doc: &mut Doc, sel: &Selector) -> Result<bool, String> {
    if sel.path.is_empty() {
        if doc.kind == LEGACY {
            return Err("can't delete the root of the legacy document".to_string());
        }
        return Ok(true);
    }
    let failed = || {
        format!(
            "patch delete: path '{}' in document '{}/{}': failed to delete path '{}': lookup failed",
            sel.path.join("."),
            doc.api_version,
            doc.kind,
            sel.path.join(".")
        )
    };
    let kind = doc.kind.clone();
    let mut at = &mut doc.node;
    let (last, parents) = sel.path.split_last().ok_or_else(failed)?;
    for key in parents {
        match at.get_mut(key) {
            Some(next) if !next.is_null() => at = next,
            _ => return Err(failed()),
        }
    }
    if let Some((key, value)) = &sel.item {
        let Value::Seq(items) = &mut at.value else {
            return Err(failed());
        };
        let pos = items
            .iter()
            .position(|i| i.get(key).and_then(Node::text) == Some(value.as_str()))
            .ok_or_else(failed)?;
        items.remove(pos);
        return Ok(false);
    }
    let Value::Map(entries) = &mut at.value else {
        return Err(failed());
    };
    match entries.iter().position(|(k, _)| k == last) {
        Some(pos) => {
            entries.remove(pos);
        }
        None if is_map(&kind, &sel.path) => return Err(failed()),
        None => {}
    }
    Ok(false)
}

/// Applies one strategic merge patch (all documents of one patch file).
pub(crate) fn apply_strategic(config: &mut Vec<Doc>, patch: Vec<Node>) -> Result<(), String> {
    for node in patch {
        for step in steps(node)? {
            match step {
                Step::Delete(sel) => {
                    let Some(pos) = config
                        .iter()
                        .position(|d| d.same_id(&sel.api_version, &sel.kind, sel.name.as_deref()))
                    else {
                        continue;
                    };
                    if delete(&mut config[pos], &sel)? {
                        config.remove(pos);
                    }
                }
                Step::Merge(node) => {
                    let doc = Doc::new(node);
                    match config
                        .iter_mut()
                        .find(|d| d.same_id(&doc.api_version, &doc.kind, doc.name.as_deref()))
                    {
                        Some(left) => merge_document(left, doc.node)?,
                        None => config.push(doc),
                    }
                }
            }
        }
    }
    Ok(())
}

/// True when a patch file is a JSON6902 patch: one document, a list of
/// operations (`op` and `path`).
pub(crate) fn is_json6902(docs: &[Node]) -> bool {
    matches!(docs, [one] if !one.items().is_empty()
        && one.items().iter().all(|op| op.get("op").is_some() && op.get("path").is_some()))
}

/// Applies a JSON6902 patch; Talos refuses one on a multi-document config.
pub(crate) fn apply_json6902(config: &mut [Doc], ops: &Node) -> Result<(), String> {
    let before = config.to_vec();
    let result = json6902_ops(config, ops);
    if result.is_err() {
        config.clone_from_slice(&before);
    }
    result
}

fn json6902_ops(config: &mut [Doc], ops: &Node) -> Result<(), String> {
    let [doc] = config else {
        return Err(
            "JSON6902 patches are not supported for multi-document machine configuration"
                .to_string(),
        );
    };
    // Talos applies a JSON6902 patch to the config as written out, where
    // `omitempty` fields that are empty are gone.
    omit_empty(&mut doc.node);
    for op in ops.items() {
        let name = op.get("op").and_then(Node::text).unwrap_or_default();
        let path = pointer(op.get("path").and_then(Node::text).unwrap_or_default())?;
        let fail = |what: &str| {
            format!(
                "failure applying rfc6902 patches to talos machine config ({what}: op {name}, path /{})",
                path.join("/")
            )
        };
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("missing value"))
        };
        match name {
            "add" => json_add(&mut doc.node, &path, value()?).map_err(|e| fail(&e))?,
            "remove" => {
                json_remove(&mut doc.node, &path).map_err(|e| fail(&e))?;
            }
            "replace" => {
                json_remove(&mut doc.node, &path).map_err(|e| fail(&e))?;
                json_add(&mut doc.node, &path, value()?).map_err(|e| fail(&e))?;
            }
            "move" | "copy" => {
                let from = pointer(op.get("from").and_then(Node::text).unwrap_or_default())?;
                let v = if name == "move" {
                    json_remove(&mut doc.node, &from).map_err(|e| fail(&e))?
                } else {
                    json_get(&doc.node, &from)
                        .cloned()
                        .ok_or_else(|| fail("missing from"))?
                };
                json_add(&mut doc.node, &path, v).map_err(|e| fail(&e))?;
            }
            "test" => {
                let want = value()?;
                let same = json_get(&doc.node, &path).is_some_and(|v| same_value(v, &want));
                if !same {
                    return Err(fail("testing value failed"));
                }
            }
            other => return Err(fail(&format!("unexpected kind of operation {other:?}"))),
        }
        doc.last = op.doc;
    }
    Ok(())
}

/// The `omitempty` fields the lint reads: written out only when not empty.
const OMIT_EMPTY: [&str; 10] = [
    "extraMounts",
    "modules",
    "sysctls",
    "nodeLabels",
    "nodeAnnotations",
    "nodeTaints",
    "extraKernelArgs",
    "extensions",
    "admissionControl",
    "options",
];

fn omit_empty(node: &mut Node) {
    match &mut node.value {
        Value::Map(entries) => {
            entries.retain(|(k, v)| {
                !(OMIT_EMPTY.contains(&k.as_str())
                    && (v.is_null() || v.items().is_empty() && v.entries().is_empty()))
            });
            for (_, v) in entries {
                omit_empty(v);
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(omit_empty),
        _ => {}
    }
}

fn same_value(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Null, Value::Null) => true,
        (Value::Scalar(x, _), Value::Scalar(y, _)) => x == y,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| k == k2 && same_value(v, v2)))
        }
        _ => false,
    }
}

/// A JSON pointer's reference tokens.
fn pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {p:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn json_get<'a>(node: &'a Node, path: &[String]) -> Option<&'a Node> {
    path.iter().try_fold(node, |n, t| match &n.value {
        Value::Map(_) => n.get(t),
        Value::Seq(items) => t.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn json_parent<'a>(node: &'a mut Node, path: &[String]) -> Result<&'a mut Node, String> {
    let mut at = node;
    for t in path {
        at = match &mut at.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k == t)
                .map(|(_, v)| v)
                .ok_or("missing key")?,
            Value::Seq(items) => t
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or("index out of range")?,
            _ => return Err("not a container".to_string()),
        };
    }
    Ok(at)
}

fn json_add(node: &mut Node, path: &[String], value: Node) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        *node = value;
        return Ok(());
    };
    let parent = json_parent(node, parents)?;
    match &mut parent.value {
        Value::Map(entries) => {
            match entries.iter_mut().find(|(k, _)| k == last) {
                Some((_, v)) => *v = value,
                None => entries.push((last.clone(), value)),
            }
            Ok(())
        }
        Value::Seq(items) => {
            let i = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>().map_err(|_| "invalid index")?
            };
            if i > items.len() {
                return Err("index out of range".to_string());
            }
            items.insert(i, value);
            Ok(())
        }
        _ => Err("not a container".to_string()),
    }
}

fn json_remove(node: &mut Node, path: &[String]) -> Result<Node, String> {
    let (last, parents) = path.split_last().ok_or("cannot remove the root")?;
    let parent = json_parent(node, parents)?;
    match &mut parent.value {
        Value::Map(entries) => {
            let pos = entries
                .iter()
                .position(|(k, _)| k == last)
                .ok_or("missing key")?;
            Ok(entries.remove(pos).1)
        }
        Value::Seq(items) => {
            let i = last.parse::<usize>().map_err(|_| "invalid index")?;
            if i >= items.len() {
                return Err("index out of range".to_string());
            }
            Ok(items.remove(i))
        }
        _ => Err("not a container".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::parse_stream;
    use super::*;

    fn config(files: &[&str]) -> Result<Vec<Doc>, String> {
        let mut out = Vec::new();
        let mut n = 0;
        for f in files {
            let docs = parse_stream(f, n).unwrap();
            n += docs.len();
            if is_json6902(&docs) {
                apply_json6902(&mut out, &docs[0])?;
            } else {
                apply_strategic(&mut out, docs)?;
            }
        }
        Ok(out)
    }

    fn texts(node: Option<&Node>) -> Vec<String> {
        node.map(|n| {
            n.items()
                .iter()
                .map(|i| {
                    i.get("destination")
                        .and_then(Node::text)
                        .unwrap_or("?")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
    }

    const BASE: &str = "version: v1alpha1\nmachine:\n  kubelet:\n    extraMounts:\n      - {destination: /a, source: /a}\n  sysctls:\n    vm.nr_hugepages: '1024'\n";

    #[test]
    fn delete_item_field_and_key() {
        let c = config(&[BASE, "machine:\n  kubelet:\n    extraMounts:\n      - destination: /a\n        $patch: delete\n      - {destination: /b, source: /b}\n"]).unwrap();
        assert_eq!(
            texts(c[0].node.at(&["machine", "kubelet", "extraMounts"])),
            ["/b"]
        );
        let c = config(&[
            BASE,
            "machine:\n  kubelet:\n    extraMounts:\n      $patch: delete\n",
        ])
        .unwrap();
        assert!(
            c[0].node
                .at(&["machine", "kubelet", "extraMounts"])
                .is_none()
        );
        let c = config(&[
            BASE,
            "machine:\n  sysctls:\n    vm.nr_hugepages:\n      $patch: delete\n",
        ])
        .unwrap();
        assert!(
            c[0].node
                .at(&["machine", "sysctls", "vm.nr_hugepages"])
                .is_none()
        );
        let err =
            config(&[BASE, "machine:\n  sysctls:\n    x:\n      $patch: delete\n"]).unwrap_err();
        assert!(err.contains("lookup failed"), "{err}");
    }

    #[test]
    fn zero_values_keep_and_lists_append() {
        let c = config(&[
            BASE,
            "machine:\n  sysctls:\n    vm.nr_hugepages: ''\n  kubelet:\n    extraMounts: []\n",
        ])
        .unwrap();
        assert_eq!(
            c[0].node
                .at(&["machine", "sysctls", "vm.nr_hugepages"])
                .and_then(Node::text),
            Some("1024")
        );
        assert_eq!(
            texts(c[0].node.at(&["machine", "kubelet", "extraMounts"])),
            ["/a"]
        );
    }

    #[test]
    fn json6902_only_on_single_documents() {
        let op = "- op: add\n  path: /machine/sysctls/a\n  value: '1'\n";
        let c = config(&[BASE, op]).unwrap();
        assert_eq!(
            c[0].node
                .at(&["machine", "sysctls", "a"])
                .and_then(Node::text),
            Some("1")
        );
        let two = format!("{BASE}---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams: {{}}\n");
        assert!(config(&[&two, op]).unwrap_err().contains("multi-document"));
    }

    #[test]
    fn documents_by_id_and_deleted() {
        let uv = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nprovisioning:\n  diskSelector: {match: 'true'}\n  minSize: 1GiB\n";
        let c = config(&[
            BASE,
            uv,
            "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: disk\n",
        ])
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1].node.get("volumeType").and_then(Node::text),
            Some("disk")
        );
        // CEL expressions and sizes are replaced on every merge (Talos's own Merge methods).
        assert!(c[1].node.at(&["provisioning", "minSize"]).is_none());
        let c = config(&[
            BASE,
            uv,
            "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n$patch: delete\n",
        ])
        .unwrap();
        assert_eq!(c.len(), 1);
    }
}
