//! Host paths in CEL: lexical cleaning (as [`crate::base::HostPath::parse`]
//! does) and the judgement of a Longhorn data path by the Talos host model
//! ([`crate::policy::disks::data_path`]), written from the model's own tables.
//!
//! Cleaning without a fold: split on `/`, drop `""` and `"."`; a name counts
//! +1 and `..` -1; a name survives when no later running sum drops below its
//! own. That is O(n^2) in the components, so it only runs on paths that need
//! it (a `//`, `/.` or trailing `/`), and only up to [`MAX_COMPONENTS`].

use super::expr::{lit, template};
use crate::base::AllowedMount;
use crate::host::{EPHEMERAL, TMPFS};

/// The longest path (bytes) a generated policy judges; a longer one is
/// denied with [`Code::Bound`] (Linux's `PATH_MAX` is 4096).
pub const MAX_PATH_BYTES: usize = 4096;

/// The most `/`-separated components a path that needs cleaning may have;
/// past it the policy denies with [`Code::Bound`] instead of running out of
/// CEL's cost budget.
pub const MAX_COMPONENTS: usize = 64;

/// The verdict codes the CEL computes for one path (`''`: usable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The path is empty.
    Empty,
    /// It holds a NUL byte.
    Nul,
    /// It does not start with `/`.
    Relative,
    /// Past the bounds above.
    Bound,
    /// `/` itself.
    Root,
    /// On a tmpfs (index into [`TMPFS`]).
    Tmpfs(usize),
    /// Inside `/dev`.
    Dev,
    /// Inside `/proc` or `/sys`.
    Kernel,
    /// On the read-only root.
    ReadOnly,
}

impl Code {
    /// Every code, in a fixed order.
    pub fn all() -> Vec<Code> {
        let mut out = vec![
            Code::Empty,
            Code::Nul,
            Code::Relative,
            Code::Bound,
            Code::Root,
        ];
        out.extend((0..TMPFS.len()).map(Code::Tmpfs));
        out.extend([Code::Dev, Code::Kernel, Code::ReadOnly]);
        out
    }

    /// The code's spelling in CEL.
    pub fn name(self) -> String {
        match self {
            Code::Empty => "empty".into(),
            Code::Nul => "nul".into(),
            Code::Relative => "relative".into(),
            Code::Bound => "bound".into(),
            Code::Root => "root".into(),
            Code::Tmpfs(i) => format!("tmpfs:{}", TMPFS[i]),
            Code::Dev => "dev".into(),
            Code::Kernel => "kernel".into(),
            Code::ReadOnly => "ro".into(),
        }
    }
}

/// `path` (a CEL string) equals `base` or lies below it, by components.
pub fn within(path: &str, base: &str) -> String {
    if base == "/" {
        return "true".into();
    }
    format!(
        "({path} == {} || {path}.startsWith({}))",
        lit(base),
        lit(&format!("{base}/"))
    )
}

/// `path` lies within one of `mounts`.
pub fn within_any(path: &str, mounts: &[AllowedMount]) -> String {
    if mounts.is_empty() {
        return "false".into();
    }
    let parts: Vec<String> = mounts
        .iter()
        .map(|m| within(path, m.path.as_str()))
        .collect();
    parts.join(" || ")
}

/// The CEL variables that clean every path of the map variable `raw`
/// (name -> raw path): `<prefix>Parts`, `<prefix>Sums`, `<prefix>Clean`.
/// Returns `(name, expression)` pairs in evaluation order.
pub fn cleaning_variables(prefix: &str, raw: &str) -> Vec<(String, String)> {
    let needs = format!(
        "v.startsWith('/') && size(v) <= {MAX_PATH_BYTES} && (v.contains('//') || v.contains('/.') || (v != '/' && v.endsWith('/'))) && size(v.split('/')) <= {MAX_COMPONENTS}"
    );
    let parts = format!("{prefix}Parts");
    let sums = format!("{prefix}Sums");
    vec![
        (
            parts.clone(),
            format!(
                "{raw}.transformMap(k, v, {needs},\n  v.split('/').filter(c, c != '' && c != '.'))"
            ),
        ),
        (
            sums.clone(),
            format!(
                "variables.{parts}.transformMap(k, ps, ps.transformList(i, c,\n  2 * size(ps.transformList(j, d, j <= i && d != '..', d)) - i - 1))"
            ),
        ),
        (
            format!("{prefix}Clean"),
            format!(
                "{raw}.transformMap(k, v, k in variables.{parts}\n  ? '/' + variables.{parts}[k].transformList(i, c, c != '..' &&\n      variables.{sums}[k].all(j, s, j <= i || s >= variables.{sums}[k][i]), c).join('/')\n  : v)"
            ),
        ),
    ]
}

/// The CEL expression giving the [`Code`] name (or `''`) of the data path
/// `v` (raw) whose cleaned form is `c`, with `allowed` the CEL test that a
/// cleaned path is within the operator's allowed mounts (given `c`).
pub fn data_path_code(v: &str, c: &str, allowed: &str) -> String {
    let mut out = format!(
        "{v} == '' ? 'empty' : {v}.contains('\\u0000') ? 'nul' : !{v}.startsWith('/') ? 'relative'\n: size({v}) > {MAX_PATH_BYTES} || size({v}.split('/')) > {MAX_COMPONENTS} && {c} == {v} && {v} != '/' && ({v}.contains('//') || {v}.contains('/.') || {v}.endsWith('/')) ? 'bound'\n: {c} == '/' ? 'root'\n: {allowed} ? ''"
    );
    for (i, t) in TMPFS.iter().enumerate() {
        out.push_str(&format!(
            "\n: {} ? {}",
            within(c, t),
            lit(&Code::Tmpfs(i).name())
        ));
    }
    out.push_str(&format!("\n: {} ? 'dev'", within(c, "/dev")));
    out.push_str(&format!(
        "\n: {} || {} ? 'kernel'",
        within(c, "/proc"),
        within(c, "/sys")
    ));
    let ephemeral: Vec<String> = EPHEMERAL.iter().map(|e| within(c, e)).collect();
    out.push_str(&format!("\n: {} ? '' : 'ro'", ephemeral.join(" || ")));
    out
}

/// A CEL conditional picking, by the code in `code`, the message of each
/// code; `render` gives the webhook's text for a code with the value as
/// [`super::expr::PLACEHOLDER`], and `value` is the CEL expression of the value.
pub fn message_by_code(code: &str, value: &str, render: impl Fn(Code) -> String) -> String {
    let mut out = String::new();
    let codes = Code::all();
    for (i, c) in codes.iter().enumerate() {
        let text = template(&render(*c), value);
        if i + 1 == codes.len() {
            out.push_str(&text);
        } else {
            out.push_str(&format!("{code} == {} ? {text}\n: ", lit(&c.name())));
        }
    }
    out
}
