//! The one renderer: every sentence a person reads in a denial, a warning,
//! `check`'s output or `talos lint`'s default-disk finding is written here
//! from the rules' structured [`Violation`]s, so the wording can change
//! without touching a rule: the object, the field, the value, what happens on
//! a Talos node, and a fix that is safe there.
//!
//! This file sorts problems into families once ([`words`]); the words of each
//! family (its denial, its short form) are in their own file (namespace,
//! disks, settings, hugepages, pods), each naming the rule IDs it serves: a
//! new family is one new file and one line here.

use crate::host::Layout;
use crate::policy::violation::{DiskSource, Problem, Violation};
use common::Words;

mod common;
mod disks;
mod hugepages;
mod namespace;
mod pods;
mod settings;

pub use common::MAX_WARNING_CHARS;

/// The family whose words a problem takes: the one place that sorts them.
fn words(problem: &Problem) -> &'static Words {
    match problem {
        Problem::NamespaceEnforce { .. } | Problem::NamespaceNoisyLabel { .. } => &namespace::WORDS,
        Problem::DiskEphemeral {
            source: DiskSource::Setting | DiskSource::SettingsConfigMap,
            ..
        }
        | Problem::DataPathSetting { .. }
        | Problem::UnreleasedSetting { .. }
        | Problem::DefaultSettingPath { .. }
        | Problem::DefaultSettingUnreadable { .. }
        | Problem::DefaultSettingUnreleased { .. }
        | Problem::DefaultSettingIgnoredKey { .. } => &settings::WORDS,
        Problem::DiskPath { .. }
        | Problem::DiskEphemeral { .. }
        | Problem::DiskTypeUnknown { .. }
        | Problem::DefaultDisksUnreadable { .. } => &disks::WORDS,
        Problem::Hugepages { .. } | Problem::HugepagesUnknown { .. } => &hugepages::WORDS,
        Problem::PodHostPath { .. } | Problem::PodTmpfs { .. } => &pods::WORDS,
    }
}

/// The denial message for one rule's violations (all from one object);
/// `layout` is the node's machine config when known (it picks a safe fix).
pub fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    match violations.first() {
        Some(first) => (words(&first.problem).denial)(violations, layout),
        None => String::new(),
    }
}

/// The short form of a violation (under 120 characters): what `warn` mode
/// and problems that never deny put in the response's `warnings`.
fn short(v: &Violation) -> String {
    (words(&v.problem).short)(v)
}

/// The warnings for a list of violations: one short form each, except that
/// the block disks of one node share one hugepages warning.
pub fn warnings(violations: &[Violation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(violations.len());
    for v in violations {
        let text = short(v);
        if matches!(v.problem, Problem::Hugepages { .. }) && out.contains(&text) {
            continue;
        }
        out.push(text);
    }
    out
}
