//! LTG-W010: the disks of a `nodes.longhorn.io` object, judged in CEL by the
//! Talos host model's tables (see [`super::paths`]). Ratcheting as the
//! webhook does: only disks the request adds, or whose path or type it
//! changes, are judged.

use super::expr::{DISK, NODE, PLACEHOLDER, list, lit, quote, summary, template};
use super::paths::{self, Code};
use super::setting::{bound_sentence, problem_of};
use super::{RuleCel, TWO_VAR_MINOR, resource_rule};
use crate::config::Config;
use crate::policy::render;
use crate::policy::violation::DiskSource;
use crate::policy::{Problem, Violation};

/// The rule's ID.
pub const ID: &str = "LTG-W010";

/// The most disks a Longhorn node may have for the CEL policy to judge it;
/// past it the policy denies with an explicit message.
pub const MAX_DISKS: usize = 64;

/// The most disks whose paths need cleaning (a `//`, `/.` or trailing `/`)
/// the CEL policy judges on one Longhorn node: cleaning is quadratic in a
/// path's components, and the cost budget holds about eight paths of
/// [`super::paths::MAX_COMPONENTS`] (measured in tests/cel_oracle.rs).
pub const MAX_UNCLEAN_DISKS: usize = 8;

/// The webhook's denial for `n` disks with `code`'s problem, with placeholders.
fn denial(cfg: &Config, code: Code, n: usize) -> String {
    let problem = problem_of(code).unwrap_or(crate::policy::PathProblem::ReadOnlyRoot);
    let v = Violation {
        field: String::new(),
        value: PLACEHOLDER.into(),
        problem: Problem::DiskPath {
            source: DiskSource::LonghornNode,
            node: NODE.into(),
            disk: DISK.into(),
            path: PLACEHOLDER.into(),
            problem,
        },
        preexisting: false,
    };
    render::denial(&vec![v; n], cfg.host.as_ref())
}

/// The `diskType` as the webhook compares it: absent and empty are `filesystem`.
pub(super) fn kind(d: &str) -> String {
    format!("(has({d}.diskType) && {d}.diskType != '' ? {d}.diskType : 'filesystem')")
}

pub(super) fn path(d: &str) -> String {
    format!("(has({d}.path) ? {d}.path : '')")
}

/// The node's name as the webhook reads it (`request.name` is absent, not
/// empty, in CEL when the request has none).
pub(super) const NODE_NAME: &str =
    "(has(request.name) && request.name != '' ? request.name : object.metadata.name)";

/// The variables `disks` (every disk of the object) and `raw` (name -> path
/// of the disks of `types` this request adds or changes; empty past
/// [`MAX_DISKS`]): the ratchet the webhook applies (`writes::node_disks`).
pub(super) fn disk_variables(types: &[&str]) -> Vec<(String, String)> {
    let old = "oldObject.spec.disks[k]";
    let judged = format!(
        "request.operation != 'UPDATE' || oldObject == null || !has(oldObject.spec) || !has(oldObject.spec.disks)\n  || !(k in oldObject.spec.disks) || {} != {} || {} != {}",
        path(old),
        path("d"),
        kind(old),
        kind("d")
    );
    vec![
        (
            "disks".to_string(),
            "has(object.spec) && has(object.spec.disks) ? object.spec.disks : {}".to_string(),
        ),
        (
            "raw".to_string(),
            format!(
                "size(variables.disks) > {} ? {{}} : variables.disks.transformMap(k, d,\n  {} in {} && ({judged}),\n  {})",
                MAX_DISKS,
                kind("d"),
                list(types),
                path("d")
            ),
        ),
    ]
}

/// The CEL test that `clean` is within the operator's allowed mounts for
/// the node: its own list, else the global one; `guard` (a CEL condition
/// ending in `&&`, or empty) must hold for a node's own list to apply.
pub(super) fn node_allowed(cfg: &Config, clean: &str, guard: &str) -> String {
    let mut allowed = paths::within_any(clean, &cfg.allowed_mounts);
    for (name, mounts) in cfg.node_allowed_mounts.iter().rev() {
        allowed = format!(
            "({guard}{NODE_NAME} == {} ? ({}) : ({allowed}))",
            lit(name),
            paths::within_any(clean, mounts)
        );
    }
    allowed
}

/// LTG-W010.
pub(super) fn disk_paths(cfg: &Config) -> RuleCel {
    let node = NODE_NAME;
    let mut variables = disk_variables(&["filesystem", "block"]);
    variables.extend(paths::raw_path_variables());
    let clean = "variables.pathClean[k]";
    let allowed = node_allowed(cfg, clean, "");
    variables.extend(paths::verdict_variables(format!(
        "variables.raw.transformMap(k, v, {} == 'block'\n  ? ({})\n  : ({}))",
        kind("variables.disks[k]"),
        paths::block_path_code("v", clean),
        paths::data_path_code("v", clean, &allowed)
    )));
    let within_bounds =
        format!("size(variables.disks) <= {MAX_DISKS} && variables.unclean <= {MAX_UNCLEAN_DISKS}");
    let expression = format!("{within_bounds} && size(variables.bad) == 0");
    let first = "variables.first";
    // The quoted names for the message, computed once.
    variables.push(("quotedNode".into(), quote(node)));
    variables.push(("quotedDisk".into(), quote(first)));
    variables.push((
        "quotedPath".into(),
        quote(&path(&format!("variables.disks[{first}]"))),
    ));
    let code = format!("variables.problem[{first}]");
    let values: [(&str, &str); 3] = [
        (NODE, "variables.quotedNode"),
        (DISK, "variables.quotedDisk"),
        (PLACEHOLDER, "variables.quotedPath"),
    ];
    // The header counts the problems; its wording for one and for two comes from the renderer.
    let head = |n| {
        let text = denial(cfg, Code::ReadOnly, n);
        text.lines().next().unwrap_or_default().to_string()
    };
    let (one, two) = (head(1), head(2));
    let header = match two.split_once(": 2 ") {
        Some((before, after)) => format!(
            "(size(variables.bad) == 1 ? {} : {} + ': ' + string(size(variables.bad)) + {})",
            template(&one, &values),
            template(before, &values),
            lit(&format!(" {after}"))
        ),
        None => template(&one, &values),
    };
    let filesystem = Code::filesystem();
    let block = Code::block();
    let mut codes = filesystem.clone();
    codes.extend(block.iter().filter(|c| !filesystem.contains(c)));
    let item = paths::message_by_code(&code, &codes, &values, |c| {
        if c == Code::Bound {
            return bound_sentence(&format!("disk {DISK:?}: the path"));
        }
        let text = denial(cfg, c, 1);
        let full = summary(&text);
        full.strip_prefix(&format!("{one} "))
            .unwrap_or(&full)
            .to_string()
    });
    let too_many = format!(
        "Longhorn node {NODE:?}: more than {MAX_DISKS} disks, or more than {MAX_UNCLEAN_DISKS} disk paths with \"//\", \".\" or \"..\", past what the CEL policy judges within the API server's cost budget; the guard's webhook judges it."
    );
    let message = format!(
        "'LTG-W010: ' + (!({within_bounds})\n  ? {}\n  : {header} + ' ' + ({item}))",
        template(&too_many, &values)
    );
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources: resource_rule("longhorn.io", "v1beta2", &["nodes"]),
        namespaced: true,
        conditions: Vec::new(),
        variables,
        validation: (expression, message),
        message:
            "LTG-W010: a disk of this Longhorn node is where its data fails or is lost on Talos"
                .into(),
        fail_open: false,
    }
}
