//! The Helm chart (manifests/chart/longhorn-talos-guard) with the pinned helm
//! v3 and v4 (tests/helm/build.sh): `helm lint` is clean; with default values
//! it renders the objects of `kubectl kustomize manifests/base`, and with
//! `certificates.mode=cert-manager` those of the cert-manager overlay; other
//! values land where the guard and the API server read them.

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "engine/expect.rs"]
mod engine;
#[allow(dead_code)]
#[path = "helm/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use harness::Helm;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use longhorn_talos_guard::base::{Level, Mode};
use longhorn_talos_guard::config::Config;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Labels Helm charts carry by convention and kustomize's base does not:
/// removed from `metadata.labels` before comparing (an emptied map goes too).
/// They are metadata for Helm and its users only: no selector, Service or
/// webhook reads them, and the pod template does not carry them (so the
/// Deployment's selector and the pods' labels are compared unchanged).
const HELM_LABELS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
];

/// The guard's config file inside its ConfigMap.
const CONFIG_KEY: &str = "config.yaml";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Splits a multi-document YAML stream into objects (empty documents dropped).
fn documents(text: &str, what: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|e| panic!("{what} is not YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `helm template` of the chart with `args` (`--set ...`) by `helm`, as objects.
fn helm_template_with(helm: Helm, args: &[&str]) -> Vec<Value> {
    let chart = harness::chart();
    let mut full = vec!["template", "longhorn-talos-guard", chart.to_str().unwrap()];
    full.extend_from_slice(args);
    let run = harness::run(helm, &full, None);
    assert!(run.success, "{run}");
    documents(&run.stdout, &run.command)
}

/// `helm template` by helm v3, after checking that helm v4 renders the same
/// objects (the chart is meant for both).
fn helm_template(args: &[&str]) -> Vec<Value> {
    let v3 = helm_template_with(Helm::V3, args);
    let v4 = helm_template_with(Helm::V4, args);
    assert_same_objects(v4, v3.clone(), &format!("helm v4 and v3 with {args:?}"));
    v3
}

/// `kubectl kustomize dir` with the pinned kubectl, as objects.
fn kustomize(dir: &str) -> Vec<Value> {
    kustomize_at(&repo().join(dir), dir)
}

/// [`kustomize`] of a folder anywhere, named `dir` in messages.
fn kustomize_at(path: &Path, dir: &str) -> Vec<Value> {
    let kubectl = controlplane::assets().kubectl;
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kubectl.display()));
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout), dir)
}

/// `kind/name` of an object (namespaces are compared as fields).
fn key(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// What the comparison ignores, in place:
/// - Helm's own labels (HELM_LABELS, see there);
/// - the text of the guard's config file, replaced by its parsed YAML: the
///   chart's file carries comments of its own and writes some values as
///   JSON (`"longhorn-system"`, `[]`), which the guard reads the same way.
///   The parsed file is compared, and the guard's own parse is checked in
///   `default_values_render_manifests_base`.
fn normalise(mut doc: Value) -> Value {
    if let Some(labels) = doc["metadata"]
        .get_mut("labels")
        .and_then(Value::as_object_mut)
    {
        for label in HELM_LABELS {
            labels.remove(label);
        }
        if labels.is_empty() {
            doc["metadata"].as_object_mut().unwrap().remove("labels");
        }
    }
    if doc["kind"] == "ConfigMap"
        && let Some(text) = doc["data"][CONFIG_KEY].as_str()
    {
        let parsed: Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("{}: {CONFIG_KEY} is not YAML: {e}", key(&doc)));
        doc["data"][CONFIG_KEY] = parsed;
    }
    doc
}

/// The objects of a rendering by kind/name; a name twice is an error.
fn by_key(docs: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for doc in docs {
        let k = key(&doc);
        assert!(map.insert(k.clone(), normalise(doc)).is_none(), "{k} twice");
    }
    map
}

/// Every path where `a` (the chart) and `b` (kustomize) differ.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let here = format!("{path}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => differences(&here, p, q, out),
                    (p, q) => out.push(format!("{here}: {p:?} / {q:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (p, q) if p == q => {}
        (p, q) => out.push(format!("{path}: {p} / {q}")),
    }
}

/// Asserts that the chart and the kustomization render the same objects.
fn assert_same_objects(chart: Vec<Value>, kustomize: Vec<Value>, what: &str) {
    let (chart, kustomize) = (by_key(chart), by_key(kustomize));
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        kustomize.keys().collect::<Vec<_>>(),
        "{what}: the chart renders other objects"
    );
    for (k, ours) in &chart {
        let theirs = &kustomize[k];
        let mut diffs = Vec::new();
        differences("", ours, theirs, &mut diffs);
        assert!(
            diffs.is_empty(),
            "{what}: {k} differs (chart, then kustomize):\n{}",
            diffs.join("\n")
        );
    }
}

/// The one object of `kind` and `name`, in its API type.
fn object<T: DeserializeOwned>(docs: &[Value], kind: &str, name: &str) -> T {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"));
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{kind}/{name}: {e}"))
}

/// The guard's config as the guard loads it from the rendered ConfigMap.
fn rendered_config(docs: &[Value]) -> Config {
    let cm: ConfigMap = object(docs, "ConfigMap", "longhorn-talos-guard-config");
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_KEY))
        .expect("the ConfigMap holds config.yaml");
    Config::from_yaml(text, "rendered ConfigMap")
        .unwrap_or_else(|e| panic!("the rendered config does not load: {e}\n{text}"))
}

/// The `In` values of a selector's `kubernetes.io/metadata.name` expressions,
/// and its `NotIn` values.
fn selected_namespaces(selector: Option<&LabelSelector>) -> (Vec<String>, Vec<String>) {
    let (mut selected, mut excluded) = (Vec::new(), Vec::new());
    for e in selector
        .and_then(|s| s.match_expressions.as_ref())
        .into_iter()
        .flatten()
    {
        assert_eq!(e.key, "kubernetes.io/metadata.name");
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => selected.extend(values),
            "NotIn" => excluded.extend(values),
            other => panic!("unexpected operator {other}"),
        }
    }
    (selected, excluded)
}

/// Every webhook of the two configurations: name, failurePolicy, the
/// namespaces its Longhorn selector picks (None for the Node webhook), its
/// clientConfig as JSON.
fn webhooks(docs: &[Value]) -> Vec<(String, String, Option<Vec<String>>, Value)> {
    let m: MutatingWebhookConfiguration =
        object(docs, "MutatingWebhookConfiguration", "longhorn-talos-guard");
    let v: ValidatingWebhookConfiguration = object(
        docs,
        "ValidatingWebhookConfiguration",
        "longhorn-talos-guard",
    );
    let mut out = Vec::new();
    for w in m.webhooks.unwrap_or_default() {
        let (sel, _) = selected_namespaces(w.object_selector.as_ref());
        out.push((
            w.name,
            w.failure_policy.unwrap_or_default(),
            Some(sel),
            serde_json::to_value(&w.client_config).unwrap(),
        ));
    }
    for w in v.webhooks.unwrap_or_default() {
        let selector = if w.name.starts_with("namespaces.") {
            w.object_selector.as_ref()
        } else {
            w.namespace_selector.as_ref()
        };
        let sel = (w.name != "default-disks.longhorn-talos-guard.io")
            .then(|| selected_namespaces(selector).0);
        out.push((
            w.name,
            w.failure_policy.unwrap_or_default(),
            sel,
            serde_json::to_value(&w.client_config).unwrap(),
        ));
    }
    out
}

#[test]
fn helm_lint_is_clean() {
    let chart = harness::chart();
    for extra in [
        &[][..],
        &["--set", "certificates.mode=cert-manager"][..],
        &[
            "--set",
            "deployment.enabled=false",
            "--set",
            "webhooks.url=https://127.0.0.1:8443",
        ][..],
        &["--set", "talosConfig=version: v1alpha1"][..],
    ] {
        for helm in Helm::ALL {
            let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
            args.extend_from_slice(extra);
            let run = harness::run(helm, &args, None);
            assert!(run.success, "{run}");
            assert!(
                run.stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
                "{run}"
            );
            // --strict turns warnings into failures; INFO lines (such as the
            // missing icon) are all helm may print besides.
            for line in run.stdout.lines().filter(|l| l.starts_with('[')) {
                assert!(line.starts_with("[INFO]"), "helm lint: {line}\n{run}");
            }
        }
    }
}

#[test]
fn default_values_render_manifests_base() {
    let chart = helm_template(&[]);
    assert_same_objects(chart.clone(), kustomize("manifests/base"), "default values");
    // The same file as far as the guard is concerned: the embedded defaults.
    assert_eq!(rendered_config(&chart), Config::default());
}

#[test]
fn cert_manager_mode_renders_the_cert_manager_overlay() {
    let chart = helm_template(&["--set", "certificates.mode=cert-manager"]);
    assert_same_objects(
        chart,
        kustomize("manifests/overlays/cert-manager"),
        "certificates.mode=cert-manager",
    );
}

#[test]
fn other_values_land_where_the_guard_reads_them() {
    let talos = "version: v1alpha1\nmachine:\n  type: worker\n";
    let chart = helm_template(&[
        "--set",
        "config.longhornNamespace=storage",
        "--set",
        "config.clusterDefaultEnforce=restricted",
        "--set",
        "config.allowedMounts[0].path=/var/mnt/extra",
        "--set",
        "config.allowedMounts[0].propagation=rshared",
        "--set",
        "config.nodes.worker-3.allowedMounts[0].path=/data",
        "--set",
        "config.exemptUsernames[0]=system:admin",
        "--set",
        "config.v2MinHugepages=4Gi",
        "--set",
        "config.policies.diskPaths=warn",
        "--set",
        "config.policies.podHostPaths=off",
        "--set",
        "certificates.mode=cert-manager",
        "--set",
        "webhooks.failurePolicy.pods=Fail",
        "--set",
        "webhooks.failurePolicy.namespaces=Ignore",
        "--set",
        "replicas=3",
        "--set",
        "image.repository=registry.example/ltg",
        "--set",
        "image.tag=1.2.3",
        "--set",
        "image.pullPolicy=Always",
        "--set",
        "resources.limits.memory=128Mi",
        "--set",
        "topologySpread.whenUnsatisfiable=ScheduleAnyway",
        "--set-string",
        &format!("talosConfig={talos}"),
    ]);

    let config = rendered_config(&chart);
    assert_eq!(config.longhorn_namespace, "storage");
    assert_eq!(config.cluster_default_enforce, Level::Restricted);
    assert_eq!(
        config
            .allowed_mounts
            .iter()
            .map(|m| m.path.to_string())
            .collect::<Vec<_>>(),
        ["/var/mnt/extra"]
    );
    assert_eq!(
        config
            .mounts_for_node("worker-3")
            .iter()
            .map(|m| m.path.to_string())
            .collect::<Vec<_>>(),
        ["/data"]
    );
    assert_eq!(config.exempt_usernames, ["system:admin"]);
    assert_eq!(config.v2_min_hugepages_bytes, 4 << 30);
    // The policies reach the guard's rules as if written in the file: the
    // defaults with those two groups set.
    let mut expected = Config::default().policies;
    expected.set("diskPaths", Mode::Warn).unwrap();
    expected.set("podHostPaths", Mode::Off).unwrap();
    assert_eq!(config.policies, expected);
    assert_ne!(config.policies, Config::default().policies);

    // Every webhook selects the configured Longhorn namespace; the two
    // overridden failure policies are set, the others keep their defaults.
    let expected_policy = BTreeMap::from([
        ("namespaces.mutate.longhorn-talos-guard.io", "Fail"),
        ("namespaces.longhorn-talos-guard.io", "Ignore"),
        ("pods.longhorn-talos-guard.io", "Fail"),
        ("nodes.longhorn-talos-guard.io", "Fail"),
        ("settings.longhorn-talos-guard.io", "Fail"),
        ("default-disks.longhorn-talos-guard.io", "Ignore"),
        ("default-settings.longhorn-talos-guard.io", "Fail"),
        ("pod-controllers.longhorn-talos-guard.io", "Ignore"),
    ]);
    let hooks = webhooks(&chart);
    assert_eq!(hooks.len(), expected_policy.len());
    for (name, policy, selected, client) in &hooks {
        assert_eq!(
            Some(&policy.as_str()),
            expected_policy.get(name.as_str()),
            "{name}"
        );
        if let Some(selected) = selected {
            assert_eq!(
                selected,
                &["storage"],
                "{name} selects the Longhorn namespace"
            );
        }
        assert_eq!(client["service"]["name"], "longhorn-talos-guard", "{name}");
    }

    // cert-manager: cainjector's annotation on both configurations, the
    // Issuers and Certificates, and the guard reading the mounted Secret.
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let doc = chart.iter().find(|d| d["kind"] == kind).unwrap();
        assert_eq!(
            doc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "longhorn-talos-guard/longhorn-talos-guard",
            "{kind}"
        );
    }
    let certificates = chart
        .iter()
        .filter(|d| d["apiVersion"] == "cert-manager.io/v1")
        .count();
    assert_eq!(certificates, 4, "two Issuers and two Certificates");
    assert!(
        !chart.iter().any(|d| d["kind"] == "Role"),
        "no Secret rights with cert-manager"
    );

    let deployment: Deployment = object(&chart, "Deployment", "longhorn-talos-guard");
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    let spread = &pod.topology_spread_constraints.as_deref().unwrap()[0];
    assert_eq!(spread.when_unsatisfiable, "ScheduleAnyway");
    let guard = &pod.containers[0];
    assert_eq!(guard.image.as_deref(), Some("registry.example/ltg:1.2.3"));
    assert_eq!(guard.image_pull_policy.as_deref(), Some("Always"));
    let limits = guard
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .unwrap();
    assert_eq!(limits["memory"].0, "128Mi");
    let args = guard.args.as_deref().unwrap().join(" ");
    assert!(
        args.contains("--cert-mode files --cert-dir /etc/longhorn-talos-guard/tls"),
        "{args}"
    );
    assert!(
        args.contains("--talos-config /etc/longhorn-talos-guard/talos/worker.yaml"),
        "{args}"
    );
    // The machine config is in the Secret the Deployment mounts at that folder.
    let mounts = guard.volume_mounts.as_deref().unwrap();
    let talos_mount = mounts.iter().find(|m| m.name == "talos").unwrap();
    assert_eq!(talos_mount.mount_path, "/etc/longhorn-talos-guard/talos");
    let volume = pod
        .volumes
        .as_deref()
        .unwrap()
        .iter()
        .find(|v| v.name == "talos")
        .unwrap();
    let secret_name = volume.secret.as_ref().unwrap().secret_name.clone().unwrap();
    let secret: Secret = object(&chart, "Secret", &secret_name);
    let stored = &secret.data.unwrap()["worker.yaml"].0;
    assert_eq!(String::from_utf8_lossy(stored), talos);
}

#[test]
fn development_url_mode_calls_the_url_and_has_no_deployment() {
    let chart = helm_template(&[
        "--set",
        "deployment.enabled=false",
        "--set",
        "webhooks.url=https://127.0.0.1:9443/",
        "--set",
        "webhooks.caBundle=Q0E=",
    ]);
    for kind in ["Deployment", "Service", "PodDisruptionBudget"] {
        assert!(
            !chart.iter().any(|d| d["kind"] == kind),
            "no {kind} with deployment.enabled=false"
        );
    }
    for (name, _, _, client) in webhooks(&chart) {
        let path = if name.starts_with("namespaces.mutate.") {
            "/mutate"
        } else {
            "/validate"
        };
        assert_eq!(
            client,
            serde_json::json!({"url": format!("https://127.0.0.1:9443{path}"), "caBundle": "Q0E="}),
            "{name}"
        );
    }
}

#[test]
fn invalid_values_are_refused_with_a_message() {
    let chart = harness::chart();
    for (set, message) in [
        (
            "certificates.mode=vault",
            "certificates.mode must be self-managed or cert-manager",
        ),
        (
            "webhooks.failurePolicy.pods=Maybe",
            "webhooks.failurePolicy.pods must be Fail or Ignore",
        ),
        (
            "config.policies.diskPaths=deny",
            "config.policies.diskPaths must be enforce, warn or off",
        ),
        (
            "config.clusterDefaultEnforce=Baseline",
            "config.clusterDefaultEnforce must be privileged, baseline or restricted",
        ),
    ] {
        for helm in Helm::ALL {
            let run = harness::run(
                helm,
                &["template", "x", chart.to_str().unwrap(), "--set", set],
                None,
            );
            assert!(!run.success, "{run}");
            assert!(run.stderr.contains(message), "{run}");
        }
    }
}

/// The arguments of the guard's container in a rendering.
fn guard_args(docs: &[Value]) -> Vec<String> {
    let deployment: Deployment = object(docs, "Deployment", "longhorn-talos-guard");
    deployment.spec.template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap_or_default()
}

#[test]
fn audit_values_switch_the_interval_and_the_policy_report_crds() {
    // Default: the audit every 5m, no CRDs (a cluster may have them from Kyverno).
    let defaults = helm_template(&[]);
    assert!(
        !defaults
            .iter()
            .any(|d| d["kind"] == "CustomResourceDefinition")
    );
    // policyReports.installCRDs: the component's CRDs, the same objects.
    let with_crds = helm_template(&["--set", "policyReports.installCRDs=true"]);
    let crds: Vec<Value> = with_crds
        .into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    let component =
        std::fs::read_to_string(repo().join("manifests/components/policy-reports/crds.yaml"))
            .expect("read the component's CRDs");
    assert_same_objects(
        crds,
        documents(&component, "policy-reports/crds.yaml"),
        "policyReports.installCRDs=true",
    );
    // audit.interval empty: no --audit-interval (off).
    let off = helm_template(&["--set", "audit.interval="]);
    let args = guard_args(&off);
    assert!(!args.iter().any(|a| a == "--audit-interval"), "{args:?}");
    let on = helm_template(&["--set", "audit.interval=30s"]);
    let args = guard_args(&on);
    let at = args
        .iter()
        .position(|a| a == "--audit-interval")
        .expect("--audit-interval");
    assert_eq!(args[at + 1], "30s");
}

/// `manifests/base` with the cel components `components`, rendered by kustomize.
fn kustomize_with(components: &[&str]) -> Vec<Value> {
    let dir = engine::kustomization_with(components);
    kustomize_at(dir.path(), &format!("base with {components:?}"))
}

/// admission.engine renders what the kustomize components do: both = base +
/// cel-policies (+ cel-mutating from 1.36), cel = those + cel-only on 1.36+,
/// cel-policies + cel-only-validating on 1.34 and 1.35, where engine cel keeps
/// the mutating namespace webhook; nothing is left unjudged.
#[test]
fn admission_engine_renders_the_cel_components() {
    let both = helm_template(&["--set", "admission.engine=both", "--kube-version", "1.37.2"]);
    assert_same_objects(
        both,
        kustomize_with(&["cel-policies", "cel-mutating"]),
        "admission.engine=both on 1.37",
    );
    let both = helm_template(&["--set", "admission.engine=both", "--kube-version", "1.34.4"]);
    assert_same_objects(
        both,
        kustomize_with(&["cel-policies"]),
        "admission.engine=both on 1.34",
    );
    let cel = helm_template(&["--set", "admission.engine=cel", "--kube-version", "1.37.2"]);
    assert_same_objects(
        cel,
        kustomize_with(&["cel-policies", "cel-mutating", "cel-only"]),
        "admission.engine=cel on 1.37",
    );
    let cel = helm_template(&["--set", "admission.engine=cel", "--kube-version", "1.34.4"]);
    assert_same_objects(
        cel,
        kustomize_with(&["cel-policies", "cel-only-validating"]),
        "admission.engine=cel on 1.34",
    );
    let webhook = helm_template(&["--kube-version", "1.34.4"]);
    for version in ["1.34.4", "1.35.0", "1.36.0", "1.37.2"] {
        let cel = helm_template(&["--set", "admission.engine=cel", "--kube-version", version]);
        let problems = engine::cel_problems(&webhook, &cel);
        assert!(problems.is_empty(), "{version}: {}", problems.join("\n"));
        let mutating_hook = cel.iter().any(|d| {
            d["kind"] == "MutatingWebhookConfiguration"
                && d["webhooks"].as_array().is_some_and(|w| !w.is_empty())
        });
        let mutating_policy = cel.iter().any(|d| d["kind"] == "MutatingAdmissionPolicy");
        let from_1_36 = !version.starts_with("1.34") && !version.starts_with("1.35");
        assert_eq!(
            (mutating_hook, mutating_policy),
            (!from_1_36, from_1_36),
            "{version}: W001 by the webhook before 1.36, by the policy from 1.36"
        );
    }
}

/// With a configuration other than the defaults the chart's own copy of the
/// policies would judge by the wrong one: engine both ships none (the
/// webhooks judge until the guard writes them), engine cel refuses without
/// admission.policies, and takes them when given.
#[test]
fn admission_engine_with_a_config_of_ones_own() {
    let mount = ["--set", "config.allowedMounts[0].path=/var/mnt/extra"];
    let mut args = vec!["--set", "admission.engine=both", "--kube-version", "1.37.2"];
    args.extend(mount);
    let both = helm_template(&args);
    assert!(
        !both.iter().any(|d| d["kind"]
            .as_str()
            .is_some_and(|k| k.contains("AdmissionPolicy"))),
        "the default configuration's policies shipped with another configuration"
    );
    assert!(
        both.iter()
            .any(|d| d["metadata"]["name"] == "longhorn-talos-guard-admission-policies"),
        "the guard still gets the right to write its policies"
    );
    // Each value the policies are generated from counts; v2MinHugepages
    // (LTG-W020, no policy) does not.
    let policies_shipped = |set: &[&str]| {
        let mut args = vec!["--set", "admission.engine=both", "--kube-version", "1.37.2"];
        args.extend(set);
        helm_template_with(Helm::V3, &args)
            .iter()
            .any(|d| d["kind"] == "ValidatingAdmissionPolicy")
    };
    assert!(policies_shipped(&[]));
    assert!(policies_shipped(&["--set", "config.v2MinHugepages=4Gi"]));
    for set in [
        "config.longhornNamespace=storage",
        "config.clusterDefaultEnforce=restricted",
        "config.nodes.worker-3.allowedMounts[0].path=/data",
        "config.exemptUsernames[0]=system:admin",
        "config.policies.diskPaths=warn",
        "config.policies.LTG-W011=off",
        "talosConfig=version: v1alpha1",
    ] {
        assert!(!policies_shipped(&["--set", set]), "{set}");
    }
    let chart = harness::chart();
    for helm in Helm::ALL {
        let run = harness::run(
            helm,
            &[
                "template",
                "x",
                chart.to_str().unwrap(),
                "--kube-version",
                "1.37.2",
                "--set",
                "admission.engine=cel",
                mount[0],
                mount[1],
            ],
            None,
        );
        assert!(!run.success, "{run}");
        assert!(
            run.stderr.contains("admission.engine=cel with a config or talosConfig other than the defaults needs admission.policies"),
            "{run}"
        );
    }
    // The user's own `policies cel` output is shipped as given.
    let own = tempfile::NamedTempFile::new().expect("temp file");
    let policies = "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: mine\nspec:\n  policyName: mine\n  validationActions: [Deny]\n";
    std::fs::write(own.path(), policies).expect("write");
    let path = own.path().to_str().unwrap().to_string();
    let file_arg = format!("admission.policies={path}");
    let mut args = vec![
        "--set",
        "admission.engine=cel",
        "--kube-version",
        "1.37.2",
        "--set-file",
        &file_arg,
    ];
    args.extend(mount);
    let cel = helm_template(&args);
    let shipped: Vec<&Value> = cel
        .iter()
        .filter(|d| {
            d["kind"]
                .as_str()
                .is_some_and(|k| k.contains("AdmissionPolicy"))
        })
        .collect();
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    assert_eq!(shipped[0]["metadata"]["name"], "mine");
}

#[test]
fn admission_engine_values_are_checked() {
    let chart = harness::chart();
    for (args, message) in [
        (
            vec!["--set", "admission.engine=ebpf"],
            "admission.engine must be webhook, cel or both",
        ),
        (
            vec!["--set", "admission.engine=cel", "--kube-version", "1.33.5"],
            "admission.engine=cel needs Kubernetes 1.34 or newer",
        ),
        (
            vec!["--set", "admission.engine=both", "--kube-version", "1.30.0"],
            "admission.engine=both needs Kubernetes 1.34 or newer",
        ),
    ] {
        for helm in Helm::ALL {
            let mut full = vec!["template", "x", chart.to_str().unwrap()];
            full.extend(&args);
            let run = harness::run(helm, &full, None);
            assert!(!run.success, "{run}");
            assert!(run.stderr.contains(message), "{run}");
        }
    }
    // webhook, the default, works on any version the chart supports.
    helm_template(&["--kube-version", "1.30.0"]);
}

#[test]
fn talos_api_enabled_renders_the_talos_api_component() {
    // The chart's opt-in and the kustomize component ship the same objects:
    // the talos.dev ServiceAccount, its Role and RoleBinding, and the
    // Deployment with --read-nodes and the Secret mounted at
    // /var/run/secrets/talos.dev (tests/manifests.rs checks what they are).
    let chart = helm_template(&["--set", "talosAPI.enabled=true"]);
    let dir = tempfile::tempdir_in(repo()).expect("temp dir in the repository");
    let from = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../manifests/base]\ncomponents: [../manifests/components/talos-api]\n",
    )
    .expect("write kustomization");
    assert_same_objects(chart.clone(), kustomize(&from), "talosAPI.enabled=true");
    assert!(
        chart
            .iter()
            .any(|d| d["apiVersion"] == "talos.dev/v1alpha1" && d["kind"] == "ServiceAccount"),
        "the talos.dev ServiceAccount is rendered"
    );
    // Off by default: nothing of it.
    let off = helm_template(&[]);
    assert!(!off.iter().any(|d| d["apiVersion"] == "talos.dev/v1alpha1"));
    let args = guard_args(&off);
    assert!(!args.iter().any(|a| a == "--read-nodes"), "{args:?}");
}
