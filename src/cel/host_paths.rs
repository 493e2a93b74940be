//! LTG-W030 in CEL: host path volumes of pods and pod templates of the
//! Longhorn namespace that fail on Talos, judged as
//! `policy::rules::pod_host_paths` judges them, from the Talos host model's
//! tables ([`host::ROOTFS`], [`host::EPHEMERAL`], [`host::KUBELET_MOUNTS`])
//! and, when given, the machine config's kubelet mounts.
//!
//! Per host path volume the request adds (the volumes of W031's reading),
//! the first of: past the bounds; what kube-apiserver refuses (an empty
//! path, a `..` component); a NUL byte; a relative path; within the
//! operator's `allowedMounts` (fine); the whole host, a tmpfs, `/dev`,
//! `/proc`, `/sys` (fine); outside the EPHEMERAL trees: on the read-only
//! root, fine only inside what Talos ships; on EPHEMERAL, when the machine
//! config is known and the kubelet does not see the path: a typed hostPath,
//! `FileOrCreate`, or a container mounting it with a `subPath`.
//!
//! A path needs no `..` handling here: one with a `..` component is
//! refused first, so cleaning is linear (drop `""` and `"."` components).

use super::expr::{PLACEHOLDER, lit, quote, splice, summary};
use super::paths::{self, MAX_PATH_BYTES, within};
use super::pods::{
    self, MAX_UNCLEAN_PATHS, MAX_VOLUMES, NAMESPACE, OWNER, POD, VOLUME, volume_name,
};
use super::{RuleCel, TWO_VAR_MINOR};
use crate::base::PathError;
use crate::base::talos::VOLUME_MOUNT_ROOT;
use crate::config::Config;
use crate::host::{self, EPHEMERAL, KUBELET_MOUNTS, Layout, ROOTFS, Shipped, TMPFS};
use crate::policy::violation::PodPathProblem;
use crate::policy::{Problem, Violation, apiserver, render};

/// The rule's ID.
pub const ID: &str = "LTG-W030";

/// The most containers (init, regular and ephemeral together) whose
/// `subPath` mounts the policy reads, and the most volume mounts of one
/// container. Only read for a volume the kubelet does not see (a machine
/// config is given); past them such a volume is denied with an explicit
/// message.
pub const MAX_CONTAINERS: usize = 32;
/// See [`MAX_CONTAINERS`].
pub const MAX_MOUNTS: usize = 64;

const FIELD: &str = "@@field@@";
const TYPE: &str = "@@type@@";
const CONTAINER: &str = "@@container@@";
const SUB_PATH: &str = "@@sub-path@@";

/// The verdict codes, in CEL's spelling, with the webhook's problem (`None`:
/// a bound of this policy).
fn codes() -> Vec<(&'static str, Option<PodPathProblem>)> {
    let field = FIELD.to_string();
    vec![
        ("bound", None),
        ("mounts", None),
        (
            "required",
            Some(PodPathProblem::RefusedByApiServer(
                apiserver::required(field.clone()).to_string(),
            )),
        ),
        (
            "backsteps",
            Some(PodPathProblem::RefusedByApiServer(
                apiserver::backsteps(field, PLACEHOLDER).to_string(),
            )),
        ),
        (
            "nul",
            Some(PodPathProblem::Invalid(PathError::Nul.to_string())),
        ),
        ("relative", Some(PodPathProblem::Relative)),
        ("ro", Some(PodPathProblem::ReadOnlyRoot)),
        ("type", Some(PodPathProblem::TypeCheckUnseen(TYPE.into()))),
        ("fileorcreate", Some(PodPathProblem::FileOrCreateUnseen)),
        (
            "subpath",
            Some(PodPathProblem::SubPathUnseen {
                container: CONTAINER.into(),
                sub_path: SUB_PATH.into(),
            }),
        ),
    ]
}

fn violation(owner: Option<&'static str>, problem: PodPathProblem) -> Violation {
    Violation {
        field: String::new(),
        value: PLACEHOLDER.into(),
        problem: Problem::PodHostPath {
            owner,
            namespace: NAMESPACE.into(),
            pod: POD.into(),
            volume: VOLUME.into(),
            path: PLACEHOLDER.into(),
            problem,
        },
        preexisting: false,
    }
}

/// The CEL string for `text`, its placeholders filled from the variables.
fn fill(text: &str) -> String {
    let quoted = |p: &str| format!("{p:?}");
    let (volume, value, container, sub) = (
        quoted(VOLUME),
        quoted(PLACEHOLDER),
        quoted(CONTAINER),
        quoted(SUB_PATH),
    );
    splice(
        text,
        &[
            (&volume, "variables.quotedVolume"),
            (&value, "variables.quotedPath"),
            (&container, "variables.quotedContainer"),
            (&sub, "variables.quotedSubPath"),
            (PLACEHOLDER, "variables.raw[variables.first]"),
            (FIELD, "variables.field"),
            (TYPE, "variables.type[variables.first]"),
            (NAMESPACE, "request.namespace"),
            (POD, "variables.podName"),
            (OWNER, "request.kind.kind"),
        ],
    )
}

/// The pod's subject (`pod ns/name`, `DaemonSet ns/name (pod template)`) and
/// the rest of the message for `problem`, from the renderer: the two
/// renderings (a pod, a template) differ only in the subject.
fn split(problem: &PodPathProblem, layout: Option<&Layout>) -> (String, String, String) {
    let pod = summary(&render::denial(&[violation(None, problem.clone())], layout));
    let template = summary(&render::denial(
        &[violation(Some(OWNER), problem.clone())],
        layout,
    ));
    let common = pod
        .chars()
        .rev()
        .zip(template.chars().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let cut = |t: &str| {
        t.len()
            - t.chars()
                .rev()
                .take(common)
                .map(char::len_utf8)
                .sum::<usize>()
    };
    (
        pod[..cut(&pod)].to_string(),
        template[..cut(&template)].to_string(),
        pod[cut(&pod)..].to_string(),
    )
}

/// `path` (cleaned, CEL) is within one of `bases`.
fn any_within(path: &str, bases: &[&str]) -> String {
    let parts: Vec<String> = bases.iter().map(|b| within(path, b)).collect();
    format!("({})", parts.join(" || "))
}

/// The CEL expression for the path `p` (cleaned) with Talos's symlinks into
/// `/usr` resolved, as [`host::is_shipped`] resolves them.
fn resolved(p: &str) -> String {
    let mut out = String::new();
    for (link, target) in host::ROOTFS_LINKS {
        out.push_str(&format!(
            "{} ? {} + {p}.substring({})\n: ",
            within(p, link),
            lit(target),
            link.chars().count()
        ));
    }
    out.push_str(p);
    out
}

/// True (CEL) when the resolved path `r` exists on Talos's read-only root
/// in every image, or lies in a tree packages and extensions fill
/// ([`host::is_shipped`]): the longest listed base holding it decides.
fn shipped(r: &str) -> String {
    let mut table: Vec<&(&str, Shipped)> = ROOTFS.iter().collect();
    table.sort_by_key(|(base, _)| std::cmp::Reverse(base.len()));
    let mut out = String::new();
    for (base, kind) in table {
        let verdict = match kind {
            Shipped::Tree => "true".to_string(),
            Shipped::Folder | Shipped::File => format!("{r} == {}", lit(base)),
        };
        out.push_str(&format!("{} ? {verdict}\n: ", within(r, base)));
    }
    out.push_str("false");
    out
}

/// True (CEL) when the kubelet container sees the cleaned path `c` on a node
/// with `layout` ([`host::kubelet_sees`] with a known machine config).
fn kubelet_sees(c: &str, layout: &Layout) -> String {
    let mut parts = vec![any_within(c, &KUBELET_MOUNTS)];
    if !layout.before(1, 10) {
        parts.push(within(c, VOLUME_MOUNT_ROOT));
    }
    for m in &layout.extra_mounts {
        parts.push(within(c, m.as_str()));
    }
    parts.join(" || ")
}

/// The verdict code of the volume at index `k` with raw path `v`.
fn code(cfg: &Config) -> String {
    let c = "variables.path[k]";
    let r = "variables.rootPath[k]";
    let ty = "variables.type[k]";
    let host_area = format!(
        "{c} == '/' || {} || {} || {} || {}",
        any_within(c, &TMPFS),
        within(c, "/dev"),
        within(c, "/proc"),
        within(c, "/sys")
    );
    // On EPHEMERAL: the kubelet's view matters only when the machine config is known.
    let on_ephemeral = match cfg.host.as_ref() {
        None => "''".to_string(),
        Some(layout) => format!(
            "{} ? ''\n: {ty} == 'FileOrCreate' ? 'fileorcreate'\n: !({ty} in ['', 'DirectoryOrCreate']) ? 'type'\n: !variables.mountsJudged ? 'mounts'\n: variables.subPathNames.exists(l, variables.name[k] in l) ? 'subpath' : ''",
            kubelet_sees(c, layout)
        ),
    };
    format!(
        "size(v) > {MAX_PATH_BYTES} ? 'bound'
: v == '' ? 'required'
: v == '..' || v.startsWith('../') || v.endsWith('/..') || v.contains('/../') ? 'backsteps'
: v.contains('\\u0000') ? 'nul'
: !v.startsWith('/') ? 'relative'
: {} ? ''
: {host_area} ? ''
: !{} ? (({}) ? '' : 'ro')
: {on_ephemeral}",
        pods::allowed(cfg, c),
        any_within(c, &EPHEMERAL),
        shipped(r),
    )
}

/// The subPath of the mount `m` (CEL): `subPath`, else `subPathExpr`, `''` for neither.
fn sub_path(m: &str) -> String {
    format!(
        "(has({m}.subPath) && {m}.subPath != '' ? {m}.subPath : has({m}.subPathExpr) ? {m}.subPathExpr : '')"
    )
}

/// The containers of the pod spec, in the webhook's order (init, regular, ephemeral).
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

fn containers(list: &str) -> String {
    format!("(has(variables.spec.{list}) ? variables.spec.{list} : [])")
}

/// LTG-W030.
pub(super) fn pod_host_paths(cfg: &Config) -> RuleCel {
    let mut variables = pods::volume_variables();
    let needs = paths::needs_cleaning("v");
    variables.extend([
        (
            "unclean".to_string(),
            format!(
                "size(variables.raw.filter(k, variables.raw[k].startsWith('/') && {}))",
                paths::needs_cleaning("variables.raw[k]")
            ),
        ),
        (
            "path".to_string(),
            format!(
                "variables.raw.transformMap(k, v, v.startsWith('/') && size(v) <= {MAX_PATH_BYTES} && {needs}\n  ? '/' + v.split('/').filter(c, c != '' && c != '.').join('/') : v)"
            ),
        ),
        (
            "rootPath".to_string(),
            format!(
                "variables.path.transformMap(k, c, {})",
                resolved("c")
            ),
        ),
        (
            "type".to_string(),
            "variables.raw.transformMap(k, v, has(variables.volumes[k].hostPath.type) ? variables.volumes[k].hostPath.type : '')".to_string(),
        ),
        (
            "name".to_string(),
            format!(
                "variables.raw.transformMap(k, v, {})",
                volume_name("variables.volumes[k]")
            ),
        ),
    ]);
    if cfg.host.is_some() {
        let lists: Vec<String> = CONTAINER_LISTS.iter().map(|l| containers(l)).collect();
        let mounts = |c: &str| format!("(has({c}.volumeMounts) ? {c}.volumeMounts : [])");
        variables.push(("containers".to_string(), lists.join(" + ")));
        variables.push((
            "mountsJudged".to_string(),
            format!(
                "size(variables.containers) <= {MAX_CONTAINERS} && variables.containers.all(c, size({}) <= {MAX_MOUNTS})",
                mounts("c")
            ),
        ));
        // The volume names each container mounts with a subPath (a list per
        // container: `in` over strings is the cheapest look-up CEL has here).
        variables.push((
            "subPathNames".to_string(),
            format!(
                "variables.containers.map(c, {}.filter(m, {} != '').map(m, has(m.name) ? m.name : ''))",
                mounts("c"),
                sub_path("m"),
            ),
        ));
        variables.push((
            "subPaths".to_string(),
            format!(
                "variables.containers.map(c, {}.filter(m, {} != '').map(m, {{'c': has(c.name) ? c.name : '', 'v': has(m.name) ? m.name : '', 's': {}}}))",
                mounts("c"),
                sub_path("m"),
                sub_path("m")
            ),
        ));
    }
    variables.extend(paths::verdict_variables(format!(
        "variables.raw.transformMap(k, v,\n{})",
        code(cfg)
    )));
    variables.push(pods::pod_name_variable());
    variables.push((
        "quotedVolume".into(),
        quote("variables.name[variables.first]"),
    ));
    variables.push((
        "quotedPath".into(),
        format!(
            "({}).replace('\\u0000', '\\\\0')",
            quote("variables.raw[variables.first]")
        ),
    ));
    variables.push((
        "field".into(),
        "(request.kind.kind == 'Pod' ? 'spec' : request.kind.kind == 'CronJob' ? 'spec.jobTemplate.spec.template.spec' : 'spec.template.spec')\n  + '.volumes[' + string(variables.first) + '].hostPath.path'".into(),
    ));
    if cfg.host.is_some() {
        variables.push((
            "subPath".into(),
            "variables.subPaths.filter(l, l.exists(m, m.v == variables.name[variables.first]))[0].filter(m, m.v == variables.name[variables.first])[0]".into(),
        ));
        variables.push(("quotedContainer".into(), quote("variables.subPath.c")));
        variables.push(("quotedSubPath".into(), quote("variables.subPath.s")));
    }
    let within_bounds = format!(
        "size(variables.volumes) <= {MAX_VOLUMES} && size(variables.oldVolumes) <= {MAX_VOLUMES} && variables.unclean <= {MAX_UNCLEAN_PATHS}"
    );
    let expression = format!("{within_bounds} && size(variables.bad) == 0");

    // The message: the subject, then the rest by code; cut at a line break as
    // the webhook's first item is (a raw path may hold one).
    let layout = cfg.host.as_ref();
    let mut subjects = None;
    let mut by_code = String::new();
    // Without a machine config the kubelet's view is never certain: no such codes.
    let unseen = ["type", "fileorcreate", "subpath", "mounts"];
    let all: Vec<_> = codes()
        .into_iter()
        .filter(|(name, _)| cfg.host.is_some() || !unseen.contains(name))
        .collect();
    for (i, (name, problem)) in all.iter().enumerate() {
        let rest = match problem {
            Some(p) => {
                let (pod, template, rest) = split(p, layout);
                subjects.get_or_insert((pod, template));
                fill(&rest)
            }
            None => {
                let what = if *name == "bound" {
                    super::setting::bound_sentence(&format!("volume {VOLUME:?}: the hostPath"))
                } else {
                    format!(
                        "volume {VOLUME:?}: the kubelet does not see its hostPath, and the pod has more than {MAX_CONTAINERS} containers or a container with more than {MAX_MOUNTS} volume mounts, past what the CEL policy reads for subPath mounts within the API server's cost budget; the guard's webhook judges it."
                    )
                };
                fill(&format!(": {what}"))
            }
        };
        if i + 1 == all.len() {
            by_code.push_str(&rest);
        } else {
            by_code.push_str(&format!(
                "variables.problem[variables.first] == {} ? {rest}\n  : ",
                lit(name)
            ));
        }
    }
    let (pod, template) = subjects.expect("a rendered problem");
    let subject = format!(
        "(request.kind.kind == 'Pod' ? {} : {})",
        fill(&pod),
        fill(&template)
    );
    let too_many = fill(&format!(
        ": more than {MAX_VOLUMES} volumes, or more than {MAX_UNCLEAN_PATHS} host paths with \"//\", \".\" or a trailing \"/\", past what the CEL policy judges within the API server's cost budget; the guard's webhook judges it."
    ));
    variables.push((
        "fullMessage".into(),
        format!("'{ID}: ' + {subject} + (!({within_bounds}) ? {too_many}\n  : {by_code})"),
    ));
    // Rust's `lines()`: a line ends at `\n`, and a `\r` just before it goes too.
    let line = "variables.fullMessage.split('\\n')[0]";
    let message = format!(
        "{line}.endsWith('\\r') && variables.fullMessage.contains('\\n')\n  ? {line}.substring(0, size({line}) - 1)\n  : {line}"
    );
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources: pods::pod_resources(),
        namespaced: true,
        conditions: Vec::new(),
        variables,
        validation: (expression, message),
        message: format!(
            "{ID}: a host path volume of this pod fails on Talos (refused by kube-apiserver, relative, on the read-only root outside what Talos ships, or typed, FileOrCreate or mounted with a subPath where the kubelet does not see it; bounds: {MAX_PATH_BYTES} bytes, {MAX_VOLUMES} volumes, {MAX_CONTAINERS} containers of {MAX_MOUNTS} mounts)"
        ),
        fail_open: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_placeholder_is_left() {
        for cfg in [
            Config::default(),
            Config {
                host: Some(Layout::default()),
                ..Config::default()
            },
        ] {
            let cel = pod_host_paths(&cfg);
            assert!(!cel.validation.1.contains("@@"), "{}", cel.validation.1);
            for v in &cel.variables {
                assert!(!v.1.contains("@@"), "{v:?}");
            }
        }
    }

    #[test]
    fn the_subject_is_cut_where_the_renderings_part() {
        let (pod, template, rest) = split(&PodPathProblem::ReadOnlyRoot, None);
        assert_eq!(pod, format!("pod {NAMESPACE}/{POD}"));
        assert_eq!(
            template,
            format!("{OWNER} {NAMESPACE}/{POD} (pod template)")
        );
        assert!(
            rest.starts_with(": host paths that fail on Talos: volume"),
            "{rest}"
        );
    }
}
