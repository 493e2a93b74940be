//! LTG-W013 in CEL for the objects CEL can read: the disks of a
//! `nodes.longhorn.io` object and Longhorn's data path settings, judged
//! for data kept on the EPHEMERAL partition by the Talos host model's
//! tables and, when given, the machine config's volumes (see
//! [`super::paths::ephemeral_code`]). The default-disks annotation (JSON)
//! and the `longhorn-default-setting` ConfigMap (YAML) stay with the webhook.

use super::expr::{DISK, NODE, PLACEHOLDER, first_sentence_of, list, lit, quote, splice, summary};
use super::node::{MAX_DISKS, MAX_UNCLEAN_DISKS, NODE_NAME, disk_variables, node_allowed};
use super::paths::{self, MAX_COMPONENTS, MAX_PATH_BYTES};
use super::setting::bound_sentence;
use super::{RuleCel, TWO_VAR_MINOR};
use crate::base::longhorn::PATH_SETTINGS;
use crate::config::Config;
use crate::host::Layout;
use crate::policy::render;
use crate::policy::violation::{DiskSource, EphemeralWhy};
use crate::policy::{Problem, Violation};

/// The rule's ID.
pub const ID: &str = "LTG-W013";

/// Where the volume's name goes in a message (unquoted, as the renderer writes it).
const VOLUME: &str = "@@volume@@";

/// The reasons in CEL's spelling, with the renderer's reason.
fn reasons() -> [(&'static str, EphemeralWhy); 3] {
    [
        ("folder", EphemeralWhy::Folder),
        ("undeclared", EphemeralWhy::UndeclaredVolume(VOLUME.into())),
        ("directory", EphemeralWhy::DirectoryVolume(VOLUME.into())),
    ]
}

fn violation(source: DiskSource, why: EphemeralWhy) -> Violation {
    Violation {
        field: String::new(),
        value: PLACEHOLDER.into(),
        problem: Problem::DiskEphemeral {
            source,
            node: NODE.into(),
            disk: DISK.into(),
            path: PLACEHOLDER.into(),
            why,
        },
        preexisting: false,
    }
}

/// The CEL string for `text`, its placeholders filled from the variables.
fn fill(text: &str) -> String {
    let node = format!("{NODE:?}");
    let disk = format!("{DISK:?}");
    let value = format!("{PLACEHOLDER:?}");
    splice(
        text,
        &[
            (&node, "variables.quotedNode"),
            (&disk, "variables.quotedDisk"),
            (&value, "variables.quotedPath"),
            (VOLUME, "variables.volumeName"),
        ],
    )
}

/// A CEL conditional on the reason code `code`, each branch `text` of a reason.
fn by_reason(code: &str, bound: &str, text: impl Fn(EphemeralWhy) -> String) -> String {
    let mut out = format!("{code} == 'bound' ? {}", fill(&bound_sentence(bound)));
    let reasons = reasons();
    for (i, (name, why)) in reasons.into_iter().enumerate() {
        let t = text(why);
        if i + 1 == 3 {
            out.push_str(&format!("\n  : {t}"));
        } else {
            out.push_str(&format!("\n  : {code} == {} ? {t}", lit(name)));
        }
    }
    out
}

/// LTG-W013 (Longhorn nodes and path settings).
pub(super) fn ephemeral(cfg: &Config) -> RuleCel {
    let layout: Option<&Layout> = cfg.host.as_ref();
    let is_node = "request.kind.kind == 'Node'";
    let name = NODE_NAME;
    let mut variables = disk_variables(&["filesystem"]);
    let node_raw = variables.pop().map(|(_, e)| e).unwrap_or_default();
    // A setting is judged when it is a path setting with a value this request sets or changes.
    let setting_raw = format!(
        "{name} in {} && has(object.value)\n  && (request.operation != 'UPDATE' || oldObject == null || !has(oldObject.value) || oldObject.value != object.value)\n  ? {{{}: object.value}} : {{}}",
        list(&PATH_SETTINGS),
        lit("value")
    );
    variables.push((
        "raw".into(),
        format!("{is_node}\n  ? ({node_raw})\n  : ({setting_raw})"),
    ));
    variables.extend(paths::raw_path_variables());
    let clean = "variables.pathClean[k]";
    // The operator's allowed mounts: a node's own list (for a Longhorn node), else the global one.
    let allowed = node_allowed(cfg, clean, &format!("{is_node} && "));
    variables.extend(paths::verdict_variables(format!(
        "variables.raw.transformMap(k, v,\n{})",
        paths::ephemeral_code("v", clean, &allowed, layout)
    )));
    let first = "variables.first";
    variables.push(("quotedNode".into(), quote(name)));
    variables.push(("quotedDisk".into(), quote(first)));
    variables.push((
        "quotedPath".into(),
        quote(&format!("variables.raw[{first}]")),
    ));
    variables.push((
        "volumeName".into(),
        format!("variables.pathClean[{first}].split('/')[3]"),
    ));
    let code = format!("variables.problem[{first}]");
    let within_bounds =
        format!("size(variables.disks) <= {MAX_DISKS} && variables.unclean <= {MAX_UNCLEAN_DISKS}");
    // A setting has no disks and at most one path: always within the bounds.
    let expression = format!("{within_bounds} && size(variables.bad) == 0");

    // A Longhorn node: the header counts the disks; the first one follows.
    let denial = |why: EphemeralWhy, n: usize| {
        render::denial(&vec![violation(DiskSource::LonghornNode, why); n], layout)
    };
    let head = |n| {
        denial(EphemeralWhy::Folder, n)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let (one, two) = (head(1), head(2));
    let header = match two.split_once(": 2 ") {
        Some((before, after)) => format!(
            "(size(variables.bad) == 1 ? {} : {} + ': ' + string(size(variables.bad)) + {})",
            fill(&one),
            fill(before),
            lit(&format!(" {after}"))
        ),
        None => fill(&one),
    };
    let item = by_reason(&code, &format!("disk {DISK:?}: the path"), |why| {
        let full = summary(&denial(why, 1));
        fill(full.strip_prefix(&format!("{one} ")).unwrap_or(&full))
    });
    let too_many = format!(
        "Longhorn node {NODE:?}: more than {MAX_DISKS} disks, or more than {MAX_UNCLEAN_DISKS} disk paths with \"//\", \".\" or \"..\", past what the CEL policy judges within the API server's cost budget; the guard's webhook judges it."
    );
    let node_message = format!(
        "!({within_bounds})\n  ? {}\n  : {header} + ' ' + ({item})",
        fill(&too_many)
    );

    // A setting: one sentence, cut where the webhook's first sentence ends
    // (the value itself may hold ". ").
    let setting_sentence = |why: EphemeralWhy| {
        let text = render::denial(&[violation(DiskSource::Setting, why)], layout);
        // The static text holds no ". " before the value's closing quote; cut at the
        // first after it, so that only a ". " in the value can cut earlier.
        let line = text.lines().next().unwrap_or_default();
        let value = format!("{PLACEHOLDER:?}");
        let line = match line.find(&value) {
            Some(at) => {
                let after = at + value.len();
                match line[after..].find(". ") {
                    Some(i) => &line[..=after + i],
                    None => line,
                }
            }
            None => line,
        };
        first_sentence_of(&fill(line))
    };
    let setting_message = by_reason(
        &code,
        &format!("Longhorn setting {NODE:?}: the value"),
        setting_sentence,
    );
    let message =
        format!("'LTG-W013: ' + ({is_node}\n  ? ({node_message})\n  : ({setting_message}))");
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources: super::resource_rule("longhorn.io", "v1beta2", &["nodes", "settings"]),
        namespaced: true,
        conditions: Vec::new(),
        variables,
        validation: (expression, message),
        message: format!(
            "LTG-W013: a new Longhorn data path keeps its data on the EPHEMERAL partition (bounds: {MAX_PATH_BYTES} bytes, {MAX_COMPONENTS} components)"
        ),
        fail_open: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_words() {
        let cel = ephemeral(&Config::default());
        let message = &cel.validation.1;
        for (code, _) in reasons() {
            assert!(message.contains(&format!("== '{code}'")) || code == "directory");
        }
        assert!(message.contains("variables.volumeName"));
        assert!(!message.contains(VOLUME), "{message}");
    }
}
