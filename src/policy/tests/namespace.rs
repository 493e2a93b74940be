use std::collections::BTreeMap;

use serde_json::Value;

use crate::base::longhorn::NAMESPACE_LABELS as LONGHORN_LABELS;
use crate::config::Config;
use crate::policy::objects::Namespace;
use crate::policy::objects::NamespaceMeta;
use crate::policy::{Facts, Phase, Subject, evaluate};
use crate::policy::{Operation, Pair, Request, Verdict};

fn ns_request(name: &str, labels: Option<&[(&str, &str)]>, op: Operation) -> Request<'static> {
    let ns = Namespace {
        metadata: NamespaceMeta {
            name: Some(name.to_string().into()),
            labels: labels.map(|l| {
                l.iter()
                    .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
                    .collect::<BTreeMap<_, _>>()
            }),
        },
    };
    Request {
        operation: op,
        name: name.to_string().into(),
        namespace: "".into(),
        username: "admin".into(),
        subject: Subject::Namespace(Pair {
            object: (op != Operation::Delete).then(|| ns.clone()),
            old: (op != Operation::Create).then_some(ns),
        }),
    }
}

fn validate(name: &str, labels: Option<&[(&str, &str)]>, cfg: &Config) -> Verdict {
    evaluate(
        Phase::Validate,
        &ns_request(name, labels, Operation::Create),
        cfg,
        &Facts::default(),
    )
}

type Labels<'a> = Option<&'a [(&'a str, &'a str)]>;

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

#[test]
fn validation_table() {
    let cfg = Config::default();
    // (labels, denied, a fragment the message must contain)
    let cases: [(Labels, bool, &str); 7] = [
        (Some(&[(ENFORCE, "privileged")]), false, ""),
        (Some(&LONGHORN_LABELS), false, ""),
        (
            None,
            true,
            "label pod-security.kubernetes.io/enforce is missing, so the cluster default \"baseline\"",
        ),
        (Some(&[("app", "longhorn")]), true, "is missing"),
        (
            Some(&[(ENFORCE, "baseline")]),
            true,
            "is \"baseline\", but Longhorn needs \"privileged\"",
        ),
        (Some(&[(ENFORCE, "restricted")]), true, "is \"restricted\""),
        (
            Some(&[(ENFORCE, "Privileged")]),
            true,
            "\"Privileged\", which is not a Pod Security level",
        ),
    ];
    for (labels, denied, fragment) in cases {
        let v = validate("longhorn-system", labels, &cfg);
        assert_eq!(!v.allowed(), denied, "{labels:?}: {v:?}");
        if denied {
            let msg = v.denial.unwrap();
            assert!(msg.contains(fragment), "{labels:?}: {msg}");
            assert!(msg.starts_with("namespace \"longhorn-system\": "), "{msg}");
            assert!(
                msg.contains("kubectl label --overwrite namespace longhorn-system pod-security.kubernetes.io/enforce=privileged"),
                "{msg}"
            );
        }
    }
}

#[test]
fn typo_variants_are_denied() {
    let cfg = Config::default();
    for typo in [
        "priviledged",
        "PRIVILEGED",
        " privileged",
        "privileged ",
        "",
    ] {
        let v = validate("longhorn-system", Some(&[(ENFORCE, typo)]), &cfg);
        assert!(!v.allowed(), "{typo:?} should be denied");
    }
}

#[test]
fn absent_label_is_fine_when_the_cluster_default_is_privileged() {
    let cfg = Config::from_yaml("clusterDefaultEnforce: privileged", "t").unwrap();
    assert!(validate("longhorn-system", None, &cfg).allowed());
}

#[test]
fn other_namespaces_are_untouched() {
    let cfg = Config::default();
    for phase in [Phase::Validate, Phase::Mutate] {
        let v = evaluate(
            phase,
            &ns_request(
                "default",
                Some(&[(ENFORCE, "restricted")]),
                Operation::Create,
            ),
            &cfg,
            &Facts::default(),
        );
        assert_eq!(v, Verdict::default(), "{phase:?}");
    }
}

#[test]
fn delete_is_allowed() {
    let cfg = Config::default();
    let v = evaluate(
        Phase::Validate,
        &ns_request(
            "longhorn-system",
            Some(&[(ENFORCE, "baseline")]),
            Operation::Delete,
        ),
        &cfg,
        &Facts::default(),
    );
    assert!(v.allowed());
}

#[test]
fn warn_mode_allows_with_a_short_warning() {
    let cfg = Config::from_yaml("policies: {namespacePodSecurity: warn}", "t").unwrap();
    let v = validate("longhorn-system", Some(&[(ENFORCE, "baseline")]), &cfg);
    assert!(v.allowed());
    assert_eq!(v.warnings.len(), 1);
    assert!(
        v.warnings[0].contains("enforce is baseline"),
        "{:?}",
        v.warnings
    );
    assert!(v.warnings[0].chars().count() < 120);
}

#[test]
fn off_mode_does_nothing() {
    let cfg = Config::from_yaml("policies: {namespacePodSecurity: off}", "t").unwrap();
    assert_eq!(validate("longhorn-system", None, &cfg), Verdict::default());
    let m = evaluate(
        Phase::Mutate,
        &ns_request("longhorn-system", None, Operation::Create),
        &cfg,
        &Facts::default(),
    );
    assert!(m.patch.is_empty());
}

#[test]
fn noisy_audit_label_warns_without_denying() {
    let cfg = Config::default();
    let v = validate(
        "longhorn-system",
        Some(&[
            (ENFORCE, "privileged"),
            ("pod-security.kubernetes.io/audit", "restricted"),
        ]),
        &cfg,
    );
    assert!(v.allowed());
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    assert!(v.warnings[0].contains("audit=restricted"));
}

#[test]
fn exempt_user_skips_validation() {
    let cfg = Config::from_yaml("exemptUsernames: [admin]", "t").unwrap();
    assert!(validate("longhorn-system", Some(&[(ENFORCE, "baseline")]), &cfg).allowed());
}

#[test]
fn custom_namespace_name() {
    let cfg = Config::from_yaml("longhornNamespace: storage", "t").unwrap();
    assert!(!validate("storage", None, &cfg).allowed());
    assert!(validate("longhorn-system", None, &cfg).allowed());
}

fn mutated(labels: Option<&[(&str, &str)]>) -> Value {
    let req = ns_request("longhorn-system", labels, Operation::Create);
    let v = evaluate(Phase::Mutate, &req, &Config::default(), &Facts::default());
    assert!(v.allowed());
    let mut doc = serde_json::json!({"metadata": {"name": "longhorn-system"}});
    if let Some(l) = labels {
        doc["metadata"]["labels"] = l
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
    }
    json_patch::patch(&mut doc, &v.patch).expect("patch applies");
    doc["metadata"]["labels"].clone()
}

#[test]
fn mutation_adds_missing_labels_and_keeps_user_values() {
    let all: Value = LONGHORN_LABELS
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    assert_eq!(mutated(None), all);
    let with_app = mutated(Some(&[("app", "longhorn")]));
    for (k, v) in LONGHORN_LABELS {
        assert_eq!(with_app[k], v);
    }
    assert_eq!(with_app["app"], "longhorn");
    // A value the user set is never overridden (validation judges it).
    let kept = mutated(Some(&[(ENFORCE, "baseline")]));
    assert_eq!(kept[ENFORCE], "baseline");
    assert_eq!(kept["pod-security.kubernetes.io/warn"], "privileged");
}

#[test]
fn mutation_escapes_slashes_in_pointers() {
    let req = ns_request("longhorn-system", Some(&[("app", "x")]), Operation::Create);
    let v = evaluate(Phase::Mutate, &req, &Config::default(), &Facts::default());
    let text = serde_json::to_string(&v.patch).unwrap();
    assert!(
        text.contains("/metadata/labels/pod-security.kubernetes.io~1enforce"),
        "{text}"
    );
}

#[test]
fn mutation_is_empty_when_complete() {
    let req = ns_request("longhorn-system", Some(&LONGHORN_LABELS), Operation::Update);
    let v = evaluate(Phase::Mutate, &req, &Config::default(), &Facts::default());
    assert!(v.patch.is_empty());
}
