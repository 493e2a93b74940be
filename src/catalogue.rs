//! One catalogue of every stable ID, in one shape for the four families:
//! the webhook's rules (`LTG-W`, from [`crate::policy::RULES`]), the lint's
//! findings (`LTG-T`, [`crate::talos::codes::CATALOGUE`]), the audit's
//! status translations (`LTG-A`, [`crate::audit::status::TRANSLATIONS`]) and
//! the preflight's findings (`LTG-P`, [`crate::preflight::codes::CATALOGUE`]).
//! The README's tables are checked against it (tests/readme.rs), and every
//! ID but the preflight's has its fixtures and snapshot (tests/rules.rs).

use crate::audit::status::TRANSLATIONS;
use crate::talos::{Severity, codes};

/// Which tool reports an ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// A webhook rule (`LTG-W`): also run by `check`, the audit and the lint.
    Rule,
    /// A `talos lint` finding (`LTG-T`).
    Lint,
    /// An audit translation of Longhorn's status (`LTG-A`).
    Audit,
    /// A `talos preflight` finding (`LTG-P`).
    Preflight,
}

/// One stable ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The ID (`LTG-W010`).
    pub id: &'static str,
    /// Its family.
    pub family: Family,
    /// Its short name: the `policies:` group of a rule (empty for a rule set
    /// by its ID only), a translation's name; empty for lint codes.
    pub name: &'static str,
    /// How bad by default: a rule's default mode, a lint or preflight
    /// finding's severity; empty for translations (their severity depends on
    /// the finding).
    pub level: &'static str,
    /// What it is about, in one line.
    pub summary: &'static str,
}

/// Every ID: the rules in registry order, then the lint codes, the
/// translations and the preflight codes, each in its own table's order.
pub fn entries() -> Vec<Entry> {
    let rules = crate::policy::RULES.iter().map(|r| Entry {
        id: r.id,
        family: Family::Rule,
        // A group entry in `policies:` sets only the rules enforced by default.
        name: if r.default_mode == crate::base::Mode::Enforce {
            r.group
        } else {
            ""
        },
        level: r.default_mode.as_str(),
        summary: r.summary,
    });
    let findings = |family, table: &'static [(&'static str, Severity, &'static str)]| {
        table.iter().map(move |(id, severity, summary)| Entry {
            id,
            family,
            name: "",
            level: match severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "note",
            },
            summary,
        })
    };
    let lint = findings(Family::Lint, &codes::CATALOGUE);
    let preflight = findings(Family::Preflight, &crate::preflight::codes::CATALOGUE);
    let audit = TRANSLATIONS.iter().map(|(id, name, summary)| Entry {
        id,
        family: Family::Audit,
        name,
        level: "",
        summary,
    });
    rules.chain(lint).chain(audit).chain(preflight).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_their_family() {
        let all = entries();
        for (i, e) in all.iter().enumerate() {
            let prefix = match e.family {
                Family::Rule => "LTG-W",
                Family::Lint => "LTG-T",
                Family::Audit => "LTG-A",
                Family::Preflight => "LTG-P",
            };
            assert!(
                e.id.len() == 8
                    && e.id.starts_with(prefix)
                    && e.id[5..].bytes().all(|b| b.is_ascii_digit()),
                "{e:?}"
            );
            assert!(!e.summary.is_empty(), "{e:?}");
            assert!(all[i + 1..].iter().all(|o| o.id != e.id), "twice: {}", e.id);
        }
    }
}
