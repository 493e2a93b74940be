//! Host paths in CEL: lexical cleaning (as [`crate::base::HostPath::parse`]
//! does) and the judgement of a Longhorn data path by the Talos host model
//! ([`crate::policy::disks::data_path`] and `check_block_path`), written from
//! the model's own tables.
//!
//! Cleaning without a fold: split on `/`, drop `""` and `"."`; a name counts
//! +1 and `..` -1; a name survives when no later running sum drops below its
//! own. That is O(n^2) in the components, so it only runs on paths that need
//! it (a `//`, `/.` or trailing `/`), and only up to [`MAX_COMPONENTS`].

use super::expr::{list, lit, template};
use crate::base::AllowedMount;
use crate::base::longhorn::DATA_PATH;
use crate::base::talos::VOLUME_MOUNT_ROOT;
use crate::host::{DEV_FILESYSTEMS, EPHEMERAL, Layout, SYSTEM_VOLUMES, TMPFS, VolumeType};

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
    /// A block disk path that is neither a device under `/dev` nor a PCI address.
    NotDevice,
    /// A block disk path inside a filesystem Talos mounts in `/dev` (index
    /// into [`DEV_FILESYSTEMS`]).
    DevFilesystem(usize),
}

impl Code {
    /// Every code a filesystem data path can get, in a fixed order.
    pub fn filesystem() -> Vec<Code> {
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

    /// Every code a block disk path can get, in a fixed order.
    pub fn block() -> Vec<Code> {
        let mut out = vec![Code::Empty, Code::Nul, Code::Relative, Code::Bound];
        out.extend((0..DEV_FILESYSTEMS.len()).map(Code::DevFilesystem));
        out.push(Code::NotDevice);
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
            Code::NotDevice => "notdevice".into(),
            Code::DevFilesystem(i) => format!("devfs:{}", DEV_FILESYSTEMS[i].0),
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

/// True (in CEL) when the absolute path `v` is not in normal form.
pub fn needs_cleaning(v: &str) -> String {
    format!("({v}.contains('//') || {v}.contains('/.') || ({v} != '/' && {v}.endsWith('/')))")
}

/// The CEL variables that clean every path of the map variable `raw`
/// (name -> raw path): `<prefix>Parts`, `<prefix>Sums`, `<prefix>Clean`.
/// Returns `(name, expression)` pairs in evaluation order.
pub fn cleaning_variables(prefix: &str, raw: &str) -> Vec<(String, String)> {
    let needs = format!(
        "v.startsWith('/') && size(v) <= {MAX_PATH_BYTES} && {} && size(v.split('/')) <= {MAX_COMPONENTS}",
        needs_cleaning("v")
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

/// The codes every path gets first: not a path (empty, NUL, relative), or
/// past the bounds.
fn invalid_or_bound(v: &str) -> String {
    format!(
        "{v} == '' ? 'empty' : {v}.contains('\\u0000') ? 'nul' : !{v}.startsWith('/') ? 'relative'\n: size({v}) > {MAX_PATH_BYTES} || (size({v}.split('/')) > {MAX_COMPONENTS} && {}) ? 'bound'",
        needs_cleaning(v)
    )
}

/// The CEL expression giving the [`Code`] name (or `''`) of the data path
/// `v` (raw) whose cleaned form is `c`, with `allowed` the CEL test that
/// the cleaned path is within the operator's allowed mounts.
pub fn data_path_code(v: &str, c: &str, allowed: &str) -> String {
    let mut out = format!(
        "{}\n: {c} == '/' ? 'root'\n: {allowed} ? ''",
        invalid_or_bound(v)
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

/// The CEL expression giving the [`Code`] name (or `''`) of the V2 block
/// disk path `v` (raw) whose cleaned form is `c`: a PCI address
/// (`dddd:bb:dd.f`, as `is_pci_address`), else a device under `/dev` outside
/// the filesystems Talos mounts there.
pub fn block_path_code(v: &str, c: &str) -> String {
    let mut out = format!(
        "{v}.matches('^[0-9a-fA-F]{{4}}:[0-9a-fA-F]{{2}}:[0-9a-fA-F]{{2}}[.][0-7]$') ? ''\n: {}",
        invalid_or_bound(v)
    );
    for (i, (mount, _)) in DEV_FILESYSTEMS.iter().enumerate() {
        out.push_str(&format!(
            "\n: {} ? {}",
            within(c, mount),
            lit(&Code::DevFilesystem(i).name())
        ));
    }
    out.push_str(&format!("\n: {c}.startsWith('/dev/') ? '' : 'notdevice'"));
    out
}

/// A CEL conditional picking, by the code in `code`, the message of each
/// of `codes`; `render` gives the text for a code with placeholders, and
/// `values` the CEL expression for each quoted placeholder.
pub fn message_by_code(
    code: &str,
    codes: &[Code],
    values: &[(&str, &str)],
    render: impl Fn(Code) -> String,
) -> String {
    let mut out = String::new();
    for (i, c) in codes.iter().enumerate() {
        let text = template(&render(*c), values);
        if i + 1 == codes.len() {
            out.push_str(&text);
        } else {
            out.push_str(&format!("{code} == {} ? {text}\n: ", lit(&c.name())));
        }
    }
    out
}

/// The CEL expression giving, for the filesystem data path `v` (raw) whose
/// cleaned form is `c`, why it keeps its data on EPHEMERAL as
/// [`crate::policy::disks::data_path`] judges it with `layout`: `'folder'`,
/// `'undeclared'` (a `/var/mnt/<name>` the machine config does not
/// declare), `'directory'` (a user volume of `volumeType: directory`),
/// `'bound'` past the bounds, or `''` (usable, or unusable: another rule's).
pub fn ephemeral_code(v: &str, c: &str, allowed: &str, layout: Option<&Layout>) -> String {
    let mut out = format!(
        "{v} == '' || {v}.contains('\\u0000') || !{v}.startsWith('/') ? ''\n: {}\n: {c} == '/' || {allowed} ? ''",
        bound_code(v)
    );
    let mut unusable: Vec<String> = TMPFS.iter().map(|t| within(c, t)).collect();
    unusable.extend(["/dev", "/proc", "/sys", DATA_PATH].map(|b| within(c, b)));
    out.push_str(&format!("\n: {} ? ''", unusable.join(" || ")));
    // classify: /var/mnt/<valid name> is a volume; any other name a folder.
    let name = format!("{c}.split('/')[3]");
    let volume = match layout {
        None => "''".to_string(),
        Some(l) => {
            let directory: Vec<&str> = l
                .volumes
                .iter()
                .filter(|d| d.volume_type == Some(VolumeType::Directory))
                .map(|d| d.name.as_str())
                .collect();
            let declared: Vec<&str> = l.volumes.iter().map(|d| d.name.as_str()).collect();
            format!(
                "{name} in {} ? 'directory' : {name} in {} ? '' : 'undeclared'",
                list(&directory),
                list(&declared)
            )
        }
    };
    out.push_str(&format!(
        "\n: {c}.startsWith({}) ? ({name}.matches('^[0-9A-Za-z-]{{1,34}}$') ? ({volume}) : 'folder')",
        lit(&format!("{VOLUME_MOUNT_ROOT}/"))
    ));
    if let Some(l) = layout {
        let own: Vec<String> = SYSTEM_VOLUMES
            .iter()
            .filter(|(id, _)| l.system_volumes.contains(id))
            .map(|(_, mount)| within(c, mount))
            .collect();
        if !own.is_empty() {
            out.push_str(&format!("\n: {} ? ''", own.join(" || ")));
        }
    }
    let ephemeral: Vec<String> = EPHEMERAL.iter().map(|e| within(c, e)).collect();
    out.push_str(&format!("\n: {} ? 'folder' : ''", ephemeral.join(" || ")));
    out
}

/// The CEL expression giving the tmpfs (`'/tmp'`, `'/system'`,
/// `'/dev/shm'`) a pod's host path `v` (raw) whose cleaned form is `c` is
/// on, as LTG-W031 judges it; `'bound'` past the bounds; `''` otherwise
/// (not a path, within `allowed`, anywhere else).
pub fn pod_tmpfs_code(v: &str, c: &str, allowed: &str) -> String {
    let mut out = format!(
        "{v} == '' || {v}.contains('\\u0000') || !{v}.startsWith('/') ? ''\n: {}\n: {allowed} ? ''",
        bound_code(v)
    );
    for t in POD_TMPFS {
        out.push_str(&format!("\n: {} ? {}", within(c, t), lit(t)));
    }
    out.push_str("\n: ''");
    out
}

/// The tmpfs mounts LTG-W031 flags (`/run` holds sockets by design).
pub const POD_TMPFS: [&str; 3] = ["/tmp", "/system", "/dev/shm"];

/// `'bound'` when the path `v` is past the bounds (the condition half of
/// a conditional).
fn bound_code(v: &str) -> String {
    format!(
        "size({v}) > {MAX_PATH_BYTES} || (size({v}.split('/')) > {MAX_COMPONENTS} && {}) ? 'bound'",
        needs_cleaning(v)
    )
}

/// The variables every path policy starts with, over the map variable
/// `variables.raw` (key -> raw path): `unclean` (how many absolute paths
/// need cleaning) and the cleaning itself ([`cleaning_variables`]).
pub fn raw_path_variables() -> Vec<(String, String)> {
    let mut out = vec![(
        "unclean".to_string(),
        format!(
            "size(variables.raw.filter(k, variables.raw[k].startsWith('/') && {}))",
            needs_cleaning("variables.raw[k]")
        ),
    )];
    out.extend(cleaning_variables("path", "variables.raw"));
    out
}

/// The variables that end every path policy: `problem` (key -> code, from
/// `problem`, a CEL map expression), `bad` (the keys with a code) and
/// `first` (the smallest of them, as the webhook reports the first).
pub fn verdict_variables(problem: String) -> Vec<(String, String)> {
    vec![
        ("problem".into(), problem),
        (
            "bad".into(),
            "variables.problem.filter(k, variables.problem[k] != '')".into(),
        ),
        (
            "first".into(),
            "variables.bad.filter(k, variables.bad.all(j, k <= j))[0]".into(),
        ),
    ]
}
