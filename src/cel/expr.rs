//! CEL text helpers: string literals, the webhook's quoting of values, and
//! message expressions cut from the renderer's own text.

/// A CEL string literal (single-quoted, escaped).
pub fn lit(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A CEL list of string literals.
pub fn list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|i| lit(i)).collect();
    format!("[{}]", items.join(", "))
}

/// The CEL expression that quotes the string `value` as the webhook's
/// messages do (Rust's `{:?}`): exact for strings whose only control
/// characters are tab, carriage return and line feed, and without other
/// characters Rust escapes (NUL, other control and unprintable characters).
pub fn quote(value: &str) -> String {
    format!(
        "'\"' + {value}.replace('\\\\', '\\\\\\\\').replace('\"', '\\\\\"')\
.replace('\\n', '\\\\n').replace('\\r', '\\\\r').replace('\\t', '\\\\t') + '\"'"
    )
}

/// The placeholder a representative violation carries where the object's
/// value goes; the renderer quotes it, and [`template`] replaces the quoted
/// placeholder with [`quote`] of a CEL expression.
pub const PLACEHOLDER: &str = "@@value@@";

/// The placeholder for a node's name.
pub const NODE: &str = "@@node@@";

/// The placeholder for a disk's name.
pub const DISK: &str = "@@disk@@";

/// The first sentence of a webhook denial: up to the first `. ` or the end
/// of the first line, whichever comes first.
pub fn first_sentence(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => &line[..=i],
        None => line,
    }
}

/// What a generated policy's message says after the rule ID: the webhook
/// denial's first sentence, and when that is a header ending in `:` over a
/// list (`Longhorn node "n": 2 disk problems:`), the first item with it.
pub fn summary(text: &str) -> String {
    let first = first_sentence(text);
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    match lines.next().and_then(|l| l.strip_prefix("  - ")) {
        Some(item) if first == head && head.ends_with(':') => format!("{head} {item}"),
        _ => first.to_string(),
    }
}

/// A CEL string expression for `text` with every quoted placeholder
/// (`"@@name@@"` as the renderer quotes it) replaced by a CEL expression
/// giving the quoted value (see [`quote`]): `values` pairs each placeholder
/// with its expression.
pub fn template(text: &str, values: &[(&str, &str)]) -> String {
    let quoted: Vec<(String, &str)> = values.iter().map(|(p, e)| (format!("{p:?}"), *e)).collect();
    let pairs: Vec<(&str, &str)> = quoted.iter().map(|(q, e)| (q.as_str(), *e)).collect();
    splice(text, &pairs)
}

/// A CEL string expression for `text` with every occurrence of each needle
/// replaced by its CEL expression (`pairs`: needle, expression), the rest
/// as literals. [`template`] is this for quoted placeholders.
pub fn splice(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let next = pairs
            .iter()
            .filter_map(|(q, e)| rest.find(q).map(|i| (i, q, e)))
            .min_by_key(|(i, _, _)| *i);
        let Some((i, q, e)) = next else {
            break;
        };
        if i > 0 {
            parts.push(lit(&rest[..i]));
        }
        parts.push((*e).to_string());
        rest = &rest[i + q.len()..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(lit(rest));
    }
    parts.join(" + ")
}

/// The most bytes of a message expression's result kube-apiserver uses
/// (k8s.io/apiserver `pkg/apis/cel/config.go`
/// `MaxEvaluatedMessageExpressionSizeBytes`); past it the static message is used.
pub const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// Characters a message past [`MAX_MESSAGE_BYTES`] keeps (at most four bytes each).
pub const CUT_MESSAGE_CHARS: usize = 1200;

/// What is appended to a message cut to fit.
pub const CUT_MARK: &str = " [...]";

/// The CEL expression giving the string variable `message` as the API server
/// shows it: whole when it fits in [`MAX_MESSAGE_BYTES`], else its first
/// [`CUT_MESSAGE_CHARS`] characters and [`CUT_MARK`] (a path of 4096 bytes
/// written twice does not fit).
pub fn fit_message(message: &str) -> String {
    format!(
        "size(bytes({message})) <= {MAX_MESSAGE_BYTES} ? {message}\n  : {message}.substring(0, {CUT_MESSAGE_CHARS}) + {}",
        lit(CUT_MARK)
    )
}

/// `text` as [`fit_message`] makes the API server show it.
pub fn fitted(text: &str) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.to_string();
    }
    let cut: String = text.chars().take(CUT_MESSAGE_CHARS).collect();
    format!("{cut}{CUT_MARK}")
}

/// The CEL expression cutting the string expression `line` as
/// [`first_sentence`] cuts a one-line text: at its first `. `, for values
/// (a path) that may hold one where the static text has none.
pub fn first_sentence_of(line: &str) -> String {
    format!(
        "(({line}).indexOf('. ') >= 0 ? ({line}).substring(0, ({line}).indexOf('. ') + 1) : ({line}))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape() {
        assert_eq!(lit("a'b\\c\n"), "'a\\'b\\\\c\\n'");
        assert_eq!(list(&["x", "y"]), "['x', 'y']");
    }

    #[test]
    fn summaries() {
        assert_eq!(
            summary("h n: 2 disk problems:\n  - disk a: bad\n  - b\nFix: x"),
            "h n: 2 disk problems: disk a: bad"
        );
        assert_eq!(summary("a. b:\n  - c"), "a.");
    }

    #[test]
    fn first_sentences() {
        assert_eq!(first_sentence("a b. c d. e"), "a b.");
        assert_eq!(first_sentence("header:\n  - item. x"), "header:");
        assert_eq!(first_sentence("/a.b/c"), "/a.b/c");
    }

    #[test]
    fn templates_split_on_the_quoted_placeholder() {
        let t = template("value \"@@value@@\" is bad", &[(PLACEHOLDER, "q")]);
        assert_eq!(t, "'value ' + q + ' is bad'");
        let two = template("\"@@node@@\": \"@@disk@@\"", &[(DISK, "d"), (NODE, "n")]);
        assert_eq!(two, "n + ': ' + d");
        assert!(quote("v").starts_with("'\"' + v.replace("));
        assert_eq!(template("plain", &[(NODE, "n")]), "'plain'");
    }
}
