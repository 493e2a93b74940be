//! What kube-apiserver itself refuses in the pod specs the guard reads, in
//! its own words: `check` reports such an object as refused (what `kubectl
//! apply` would print), and LTG-W030 answers the same way when a review of
//! one reaches the webhook anyway.
//!
//! Sources: kubernetes `pkg/apis/core/validation/validation.go` (commit
//! 000f2605): `validateHostPathVolumeSource` requires `path` and runs
//! `validatePathNoBacksteps` (no `..` component, split on `/`); nothing there
//! requires an absolute path, so a relative one is accepted and judged by the
//! guard. The order: `staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go`
//! `Create` runs the strategy's validation (`rest.BeforeCreate`) before the
//! validating admission chain (`createValidation`); mutating admission ran
//! before both. So a validating webhook is never called for an object the
//! API server refuses. The wording is apimachinery's `field.Error`
//! (`<field>: Required value`, `<field>: Invalid value: "<value>": <detail>`,
//! `<field>: Not found: "<name>"`) as kubectl prints a refusal; checked
//! against kube-apiserver and kubectl v1.37.2 (tests/e2e, scenario 4).

use std::fmt;

use super::Request;
use super::objects::PodSpec;

/// One field error, as kube-apiserver words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (`spec.volumes[0].hostPath.path`).
    pub field: String,
    /// What is wrong, after the field (`Required value`, `Invalid value: ...`).
    pub body: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body)
    }
}

/// What kube-apiserver says of a hostPath `path` at `field` (the
/// `...hostPath` field), if it refuses it.
pub fn host_path_error(field: &str, path: &str) -> Option<FieldError> {
    let field = format!("{field}.path");
    if path.is_empty() {
        return Some(required(field));
    }
    path.split('/')
        .any(|c| c == "..")
        .then(|| backsteps(field, path))
}

/// `<field>: Required value`.
pub fn required(field: String) -> FieldError {
    FieldError {
        field,
        body: "Required value".into(),
    }
}

/// `<field>: Invalid value: "<path>": must not contain '..'`.
pub fn backsteps(field: String, path: &str) -> FieldError {
    FieldError {
        field,
        body: format!("Invalid value: {}: must not contain '..'", go_quote(path)),
    }
}

/// The field of the pod spec in an object of `kind` (`None`: a Pod).
pub fn pod_spec_field(owner: Option<&str>) -> &'static str {
    match owner {
        None => "spec",
        Some("CronJob") => "spec.jobTemplate.spec.template.spec",
        Some(_) => "spec.template.spec",
    }
}

/// Every error kube-apiserver gives a pod spec owned by `owner` (`None`: a
/// Pod) because of its hostPaths, in its order (`ValidatePodSpec`: volumes,
/// then containers, init containers, ephemeral containers): each refused
/// hostPath, then each volume mount naming a refused volume (a refused
/// volume is left out of the names mounts may use, so such a mount is
/// `Not found`).
pub fn pod_spec_errors(spec: &PodSpec<'_>, owner: Option<&str>) -> Vec<FieldError> {
    let at = pod_spec_field(owner);
    let mut errors = Vec::new();
    let (mut refused, mut valid) = (Vec::new(), Vec::new());
    for (i, v) in spec.volumes.iter().enumerate() {
        let error = v
            .host_path
            .as_ref()
            .and_then(|h| host_path_error(&format!("{at}.volumes[{i}].hostPath"), &h.path));
        match error {
            Some(e) => {
                errors.push(e);
                refused.push(&*v.name);
            }
            None => valid.push(&*v.name),
        }
    }
    for (list, containers) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
        ("ephemeralContainers", &spec.ephemeral_containers),
    ] {
        for (c, container) in containers.iter().enumerate() {
            for (m, mount) in container.volume_mounts.iter().enumerate() {
                if refused.contains(&&*mount.name) && !valid.contains(&&*mount.name) {
                    errors.push(FieldError {
                        field: format!("{at}.{list}[{c}].volumeMounts[{m}].name"),
                        body: format!("Not found: {}", go_quote(&mount.name)),
                    });
                }
            }
        }
    }
    errors
}

/// What `kubectl apply` prints when kube-apiserver refuses the CREATE of
/// the object in `req`: `The Pod "x" is invalid: <error>`, or with several
/// errors the same first line and one `* <error>` line each (kubectl's
/// `StandardErrorMessage` and `MultilineError` over the Status causes).
/// `generate_name` names an object without a name (the API server would
/// name it at random).
pub fn refusal(req: &Request<'_>, generate_name: Option<&str>) -> Option<String> {
    let (kind, spec, owner) = match &req.subject {
        super::Subject::Pod(pair) => ("Pod", &pair.object.as_ref()?.spec, None),
        subject => {
            let (owner, pair) = subject.pod_controller()?;
            (owner, pair.object.as_ref()?.pod_spec()?, Some(owner))
        }
    };
    let errors = pod_spec_errors(spec, owner);
    let who = match (&*req.name, generate_name) {
        ("", Some(prefix)) => format!("with generateName {}", go_quote(prefix)),
        (name, _) => go_quote(name),
    };
    let head = format!("The {kind} {who} is invalid: ");
    match errors.as_slice() {
        [] => None,
        [one] => Some(format!("{head}{one}")),
        many => {
            let lines: Vec<String> = many.iter().map(|e| format!("* {e}")).collect();
            Some(format!("{head}\n{}", lines.join("\n")))
        }
    }
}

/// A string quoted as Go's `%q` (`strconv.Quote`) quotes it: `"` and `\`
/// escaped, control characters as `\n`, `\t`, ... or `\xNN`/`\uNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_errors_in_the_api_servers_words() {
        // kubernetes pkg/apis/core/validation/validation.go (validateHostPathVolumeSource,
        // validatePathNoBacksteps) and apimachinery pkg/util/validation/field/errors.go.
        let at = "spec.volumes[0].hostPath";
        let cases = [
            ("", Some("spec.volumes[0].hostPath.path: Required value")),
            (
                "/var/lib/longhorn/../x",
                Some(
                    "spec.volumes[0].hostPath.path: Invalid value: \"/var/lib/longhorn/../x\": must not contain '..'",
                ),
            ),
            (
                "..",
                Some("spec.volumes[0].hostPath.path: Invalid value: \"..\": must not contain '..'"),
            ),
            // Not a component: accepted.
            ("/var/lib/longhorn/..x", None),
            ("/var/lib/longhorn/x..", None),
            // No absolute-path check: a relative path is accepted.
            ("var/lib/longhorn", None),
            ("./longhorn", None),
            ("/var/./lib//longhorn/", None),
        ];
        for (path, want) in cases {
            assert_eq!(
                host_path_error(at, path).map(|e| e.to_string()).as_deref(),
                want,
                "{path:?}"
            );
        }
    }

    #[test]
    fn a_mount_of_a_refused_volume_is_not_found() {
        // kubernetes validation.go ValidatePodSpec: volumes, then containers, init containers,
        // ephemeral containers; a mount naming a volume left out is NotFound. Checked against
        // kube-apiserver v1.37.2 in tests/e2e (scenario 4).
        use crate::policy::objects::{Container, HostPathSource, Volume, VolumeMount};
        let volume = |name: &str, path: &str| Volume {
            name: name.to_string().into(),
            host_path: Some(HostPathSource {
                path: path.to_string().into(),
                path_type: None,
            }),
        };
        let mounts = |names: &[&str]| Container {
            name: "c".into(),
            volume_mounts: names
                .iter()
                .map(|n| VolumeMount {
                    name: n.to_string().into(),
                    ..VolumeMount::default()
                })
                .collect(),
        };
        let spec = PodSpec {
            volumes: vec![volume("ok", "/var/lib/longhorn"), volume("bad", "/a/../b")],
            containers: vec![mounts(&["ok", "bad"])],
            init_containers: vec![mounts(&["bad"])],
            ..PodSpec::default()
        };
        let got: Vec<String> = pod_spec_errors(&spec, Some("DaemonSet"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "spec.template.spec.volumes[1].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'",
                "spec.template.spec.containers[0].volumeMounts[1].name: Not found: \"bad\"",
                "spec.template.spec.initContainers[0].volumeMounts[0].name: Not found: \"bad\"",
            ]
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("/a\"b\\c"), r#""/a\"b\\c""#);
        assert_eq!(go_quote("a\nb\u{1}\u{7f}é"), r#""a\nb\x01\x7fé""#);
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
    }

    #[test]
    fn pod_spec_fields_by_owner() {
        assert_eq!(pod_spec_field(None), "spec");
        assert_eq!(pod_spec_field(Some("DaemonSet")), "spec.template.spec");
        assert_eq!(
            pod_spec_field(Some("CronJob")),
            "spec.jobTemplate.spec.template.spec"
        );
    }
}
