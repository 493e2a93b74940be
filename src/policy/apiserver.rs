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
//! (`<field>: Required value`, `<field>: Invalid value: "<value>": <detail>`)
//! and `errors.NewInvalid` (`The <Kind.group> "<name>" is invalid: <errors>`).

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
        return Some(FieldError {
            field,
            body: "Required value".into(),
        });
    }
    path.split('/').any(|c| c == "..").then(|| FieldError {
        field,
        body: format!("Invalid value: {}: must not contain '..'", go_quote(path)),
    })
}

/// The field of the pod spec in an object of `kind` (`None`: a Pod).
pub fn pod_spec_field(owner: Option<&str>) -> &'static str {
    match owner {
        None => "spec",
        Some("CronJob") => "spec.jobTemplate.spec.template.spec",
        Some(_) => "spec.template.spec",
    }
}

/// Every hostPath error of a pod spec owned by `owner` (`None`: a Pod).
pub fn pod_spec_errors(spec: &PodSpec<'_>, owner: Option<&str>) -> Vec<FieldError> {
    let at = pod_spec_field(owner);
    spec.volumes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let h = v.host_path.as_ref()?;
            host_path_error(&format!("{at}.volumes[{i}].hostPath"), &h.path)
        })
        .collect()
}

/// The API server's answer to a CREATE of the object in `req`, when it
/// refuses it: `The Pod "x" is invalid: <errors>` (one error as it is,
/// several in brackets). `generate_name` names an object without a name.
pub fn refusal(req: &Request<'_>, generate_name: Option<&str>) -> Option<String> {
    let (kind, spec, owner) = match &req.subject {
        super::Subject::Pod(pair) => ("Pod", &pair.object.as_ref()?.spec, None),
        subject => {
            let (owner, pair) = subject.pod_controller()?;
            let spec = pair.object.as_ref()?.pod_spec()?;
            (qualified_kind(owner), spec, Some(owner))
        }
    };
    let errors = pod_spec_errors(spec, owner);
    if errors.is_empty() {
        return None;
    }
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let joined = if list.len() == 1 {
        list[0].clone()
    } else {
        format!("[{}]", list.join(", "))
    };
    let who = match (&*req.name, generate_name) {
        ("", Some(prefix)) => format!("with generateName {}", go_quote(prefix)),
        (name, _) => go_quote(name),
    };
    Some(format!("The {kind} {who} is invalid: {joined}"))
}

/// `Kind.group` as `errors.NewInvalid` prints it for the pod controllers.
fn qualified_kind(kind: &str) -> &'static str {
    match kind {
        "DaemonSet" => "DaemonSet.apps",
        "Deployment" => "Deployment.apps",
        "StatefulSet" => "StatefulSet.apps",
        "ReplicaSet" => "ReplicaSet.apps",
        "Job" => "Job.batch",
        _ => "CronJob.batch",
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
