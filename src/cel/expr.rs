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

/// The first sentence of a webhook denial: up to the first `. ` or the end
/// of the first line, whichever comes first.
pub fn first_sentence(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => &line[..=i],
        None => line,
    }
}

/// A CEL string expression for `text` with every quoted [`PLACEHOLDER`]
/// replaced by the quoted value of the CEL expression `value`.
pub fn template(text: &str, value: &str) -> String {
    let quoted = format!("{PLACEHOLDER:?}");
    let parts: Vec<String> = text.split(quoted.as_str()).map(lit).collect::<Vec<_>>();
    parts.join(&format!(" + {} + ", quote(value)))
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
    fn first_sentences() {
        assert_eq!(first_sentence("a b. c d. e"), "a b.");
        assert_eq!(first_sentence("header:\n  - item. x"), "header:");
        assert_eq!(first_sentence("/a.b/c"), "/a.b/c");
    }

    #[test]
    fn templates_split_on_the_quoted_placeholder() {
        let t = template("value \"@@value@@\" is bad", "v");
        assert!(t.starts_with("'value ' + '\"' + v.replace("), "{t}");
        assert!(t.ends_with(" + '\"' + ' is bad'"), "{t}");
    }
}
