//! Words for the V2 data engine's hugepages: LTG-W020.

use super::common::*;

/// The words of this family.
pub(super) static WORDS: Words = Words { denial, short };

fn denial(violations: &[Violation], _: Option<&Layout>) -> String {
    let items: Vec<String> = violations
        .iter()
        .filter_map(|v| match &v.problem {
            Problem::Hugepages {
                node,
                disk,
                have,
                need,
            } => Some(hugepages_item(disk, node, *have, *need)),
            _ => None,
        })
        .collect();
    match &violations[0].problem {
        Problem::Hugepages { node, need, .. } => hugepages_denial(node, &items, *need),
        // A failed look-up never denies.
        _ => String::new(),
    }
}

fn short(v: &Violation) -> String {
    match &v.problem {
        Problem::Hugepages {
            node, have, need, ..
        } => hugepages_short(node, *have, *need),
        Problem::HugepagesUnknown { node, why } => hugepages_unknown(node, why),
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// A block disk on a node without enough hugepages.
fn hugepages_item(disk: &str, node: &str, have: u64, need: u64) -> String {
    let reported = if have == 0 {
        "no hugepages-2Mi".to_string()
    } else {
        format!("{} of hugepages-2Mi", format_bytes(have))
    };
    format!(
        "disk {disk:?}: block disk (V2 data engine) on node {node:?}, which reports {reported}; \
the V2 data engine needs at least {}",
        format_bytes(need)
    )
}

/// `2Gi` as people write it in prose: `2 GiB`.
pub(super) fn prose_bytes(bytes: u64) -> String {
    let s = format_bytes(bytes);
    match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => format!("{} {}B", &s[..i], &s[i..]),
        None => format!("{s} bytes"),
    }
}

/// The fix for missing hugepages, for a minimum of `need` bytes.
fn hugepages_fix(need: u64) -> String {
    let pages = hugepages_for(need);
    let modules: Vec<String> = v2_modules_to_load()
        .iter()
        .map(|m| format!("{{name: {m}}}"))
        .collect();
    format!(
        "in the node's Talos machine config set machine.sysctls: {{vm.nr_hugepages: \"{pages}\"}} \
({pages} x 2 MiB = {}) and machine.kernel.modules: [{}], apply it, and wait until the Kubernetes \
Node reports hugepages-2Mi.",
        prose_bytes(pages * HUGEPAGE_BYTES),
        modules.join(", ")
    )
}

/// The denial for block disks on a node without `need` bytes of hugepages.
fn hugepages_denial(node: &str, items: &[String], need: u64) -> String {
    object_denial(
        &format!("Longhorn node {node:?}: V2 prerequisites missing:"),
        items,
        &hugepages_fix(need),
    )
}

/// The short form of [`hugepages_item`].
fn hugepages_short(node: &str, have: u64, need: u64) -> String {
    warning(format!(
        "node {node}: {} hugepages-2Mi, V2 block disks need {}; set vm.nr_hugepages",
        format_bytes(have),
        format_bytes(need)
    ))
}

/// A hugepages look-up that failed.
fn hugepages_unknown(node: &str, why: &str) -> String {
    warning(format!(
        "node {node}: hugepages not verified for V2 block disks: {why}"
    ))
}
