//! Property tests: path normalisation never lets a path escape an allowed
//! mount; the review decoder never panics and answers 400 or a well-formed
//! review; the namespace mutation always applies and is idempotent.
//!
//! The same cases on every run, like the oracle tests (CI must not turn red
//! at random, nor green by luck): a fixed seed and a fixed number of cases,
//! which `PROPTEST_CASES` cannot lower. `PROPTEST_RNG_SEED=N` explores
//! another set (a failure prints the case).

use std::collections::BTreeMap;

use longhorn_talos_guard::admission;
use longhorn_talos_guard::base::HostPath;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::policy::{self, Facts, Phase};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The runner's configuration: `cases` cases from a fixed seed, unless
/// `PROPTEST_RNG_SEED` asks for another seed.
fn config(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        defaults.rng_seed
    } else {
        proptest::test_runner::RngSeed::Fixed(0x4c54_4750_726f)
    };
    ProptestConfig {
        cases,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed,
        ..defaults
    }
}

/// Two runs draw the same cases (unless `PROPTEST_RNG_SEED` asks otherwise),
/// and `PROPTEST_CASES` in the environment does not change how many.
#[test]
fn every_run_draws_the_same_cases() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::TestRunner;
    if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        eprintln!("PROPTEST_RNG_SEED is set: exploring another seed");
        return;
    }
    let draw = || {
        let mut runner = TestRunner::new(config(256));
        (0..16)
            .map(|_| raw_path().new_tree(&mut runner).expect("a case").current())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(), draw());
    assert_eq!(config(256).cases, 256);
}

/// Path components, with the ones that matter for escapes over-represented.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("var".to_string()),
        Just("lib".to_string()),
        Just("longhorn".to_string()),
        Just("longhorn2".to_string()),
        "[a-z0-9.-]{1,6}",
    ]
}

fn raw_path() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 0..10).prop_map(|c| format!("/{}", c.join("/")))
}

/// A model of lexical resolution, written independently of `HostPath::parse`.
fn resolve(raw: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    for part in raw.split('/') {
        if part == ".." {
            stack.pop();
        } else if !part.is_empty() && part != "." {
            stack.push(part.to_string());
        }
    }
    stack
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalised_paths_are_clean_and_resolve_like_the_model(raw in raw_path()) {
        let p = HostPath::parse(&raw).unwrap();
        let s = p.as_str();
        prop_assert!(s.starts_with('/'));
        prop_assert!(!s.contains("//"));
        prop_assert!(s == "/" || !s.ends_with('/'));
        prop_assert!(!s.split('/').any(|c| c == ".." || c == "."));
        prop_assert_eq!(s.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect::<Vec<_>>(), resolve(&raw));
        // Normalising again changes nothing.
        prop_assert_eq!(HostPath::parse(s).unwrap(), p.clone());
    }

    #[test]
    fn containment_holds_by_whole_components(raw in raw_path(), mount in raw_path()) {
        let p = HostPath::parse(&raw).unwrap();
        let m = HostPath::parse(&mount).unwrap();
        let (pc, mc) = (resolve(&raw), resolve(&mount));
        let model = pc.len() >= mc.len() && pc[..mc.len()] == mc[..];
        prop_assert_eq!(p.is_within(&m), model, "{} within {}", p, m);
    }

    #[test]
    fn no_generated_path_escapes_an_allowed_mount(suffix in raw_path()) {
        // Whatever follows the mount, a path judged inside it resolves below it.
        let raw = format!("/var/lib/longhorn{suffix}");
        let p = HostPath::parse(&raw).unwrap();
        let mount = HostPath::parse("/var/lib/longhorn").unwrap();
        if p.is_within(&mount) {
            let resolved = resolve(&raw);
            prop_assert!(resolved.len() >= 3);
            prop_assert_eq!(&resolved[..3], &["var", "lib", "longhorn"]);
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9/._~-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("apiVersion".to_string()),
                    Just("kind".to_string()),
                    Just("request".to_string()),
                    Just("uid".to_string()),
                    Just("operation".to_string()),
                    Just("object".to_string()),
                    Just("oldObject".to_string()),
                    Just("metadata".to_string()),
                    Just("labels".to_string()),
                    Just("spec".to_string()),
                    Just("disks".to_string()),
                    Just("path".to_string()),
                    "[a-z]{1,5}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Reviews that get past the envelope checks, with arbitrary objects.
fn arbitrary_review() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(("", "Namespace")), Just(("", "Pod")), Just(("longhorn.io", "Node")), Just(("longhorn.io", "Setting")), Just(("", "Node")), Just(("apps", "Deployment"))],
        prop_oneof![Just("CREATE"), Just("UPDATE"), Just("DELETE"), Just("CONNECT")],
        arbitrary_json(),
        arbitrary_json(),
    )
        .prop_map(|((group, kind), op, object, old)| {
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "p", "kind": {"group": group, "version": "v1", "kind": kind}, "operation": op,
                "name": "longhorn-system", "namespace": "longhorn-system",
                "userInfo": {"username": "u"}, "object": object, "oldObject": old}})
        })
}

fn answer_is_well_formed(body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(decoded) = admission::decode(body) {
        let config = Config::default();
        for phase in [Phase::Mutate, Phase::Validate] {
            let verdict = match &decoded.request {
                Some(req) => policy::evaluate(phase, req, &config, &Facts::default()),
                None => policy::Verdict::default(),
            };
            let out: Value =
                serde_json::from_slice(&admission::encode(&decoded.uid, &verdict)).unwrap();
            prop_assert_eq!(&out["response"]["uid"], &Value::from(&*decoded.uid));
            prop_assert!(out["response"]["allowed"].is_boolean());
            if phase == Phase::Validate {
                prop_assert!(out["response"].get("patch").is_none());
            }
            if out["response"]["allowed"] == false {
                prop_assert_eq!(&out["response"]["status"]["code"], &Value::from(403));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_json_never_panics_the_decoder(v in arbitrary_json()) {
        answer_is_well_formed(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn arbitrary_objects_get_a_well_formed_answer_or_an_error(v in arbitrary_review()) {
        answer_is_well_formed(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = admission::decode(&bytes);
    }
}

fn labels() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    let key = prop_oneof![
        Just("pod-security.kubernetes.io/enforce".to_string()),
        Just("pod-security.kubernetes.io/audit-version".to_string()),
        Just("pod-security.kubernetes.io/warn".to_string()),
        Just("a~b/c".to_string()),
        "[a-z./~-]{1,20}",
    ];
    prop::option::of(prop::collection::btree_map(key, "[a-z]{0,10}", 0..8))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutation_applies_and_is_idempotent(labels in labels()) {
        let mut object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "longhorn-system"}});
        if let Some(l) = &labels {
            object["metadata"]["labels"] = serde_json::to_value(l).unwrap();
        }
        let review = |object: &Value| {
            let body = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": "m", "kind": {"group": "", "version": "v1", "kind": "Namespace"}, "operation": "CREATE",
                    "name": "longhorn-system", "userInfo": {"username": "u"}, "object": object}})).unwrap();
            let req = admission::decode(&body).unwrap().request.unwrap();
            policy::evaluate(Phase::Mutate, &req, &Config::default(), &Facts::default())
        };
        let first = review(&object);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &first.patch).unwrap();
        // Every value the user set is kept; every recommended label is present.
        for (k, v) in labels.iter().flatten() {
            prop_assert_eq!(&patched["metadata"]["labels"][k], &Value::from(v.clone()));
        }
        for k in ["enforce", "enforce-version", "audit", "audit-version", "warn", "warn-version"] {
            let key = format!("pod-security.kubernetes.io/{k}");
            prop_assert!(patched["metadata"]["labels"].get(&key).is_some(), "{} missing", key);
        }
        prop_assert!(review(&patched).patch.is_empty(), "a second mutation changes nothing");
    }
}
