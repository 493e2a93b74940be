//! Unit tests of the audit's helpers (the translations are tested on
//! fixtures in tests/audit.rs).

use super::render::sh_quote;

#[test]
fn shell_words() {
    assert_eq!(sh_quote("longhorn-system"), "longhorn-system");
    assert_eq!(sh_quote("/var/lib/longhorn/"), "/var/lib/longhorn/");
    assert_eq!(sh_quote(r#"{"a":1}"#), r#"'{"a":1}'"#);
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
    assert_eq!(sh_quote(""), "''");
}
