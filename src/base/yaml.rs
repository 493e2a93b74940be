//! The YAML parser's errors in one shape: the position in fields and the
//! message without the parser's own repetitions of it.

/// A YAML error: 1-based line and column when known, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The line, when the parser knows it.
    pub line: Option<u64>,
    /// The column, when the parser knows it.
    pub column: Option<u64>,
    /// What is wrong, without the position.
    pub message: String,
}

impl YamlError {
    /// `line L column C: message`, or the message alone.
    pub fn positioned(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l} column {c}: {}", self.message),
            (Some(l), None) => format!("line {l}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl From<&serde_saphyr::Error> for YamlError {
    /// Keeps the first line of the message; drops its "error: " prefix, the
    /// leading "line N column M: ", a trailing " at line N, column M" and the
    /// source snippet (which names the text `<input>`).
    fn from(e: &serde_saphyr::Error) -> Self {
        let location = e.location();
        let text = e.without_snippet().to_string();
        let first = text.lines().next().unwrap_or_default();
        let mut message = first.strip_prefix("error: ").unwrap_or(first);
        if let Some(rest) = message.strip_prefix("line ")
            && let Some((pos, after)) = rest.split_once(": ")
            && pos.contains(" column ")
        {
            message = after;
        }
        if let Some((head, tail)) = message.rsplit_once(" at line ")
            && tail.contains(", column ")
            && tail
                .chars()
                .all(|c| c.is_ascii_digit() || ", column".contains(c))
        {
            message = head;
        }
        YamlError {
            line: location.map(|l| l.line()).filter(|&l| l > 0),
            column: location.map(|l| l.column()).filter(|&c| c > 0),
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_once() {
        let e = serde_saphyr::from_str::<std::collections::BTreeMap<String, String>>("a: [x")
            .unwrap_err();
        let y = YamlError::from(&e);
        assert_eq!((y.line, y.column), (Some(1), Some(4)), "{y:?}");
        assert!(!y.message.contains("line"), "{y:?}");
        assert!(y.positioned().starts_with("line 1 column 4: "), "{y:?}");
    }
}
