//! The CEL back end against Kubernetes' own admission policy code: the
//! policies `policies cel` generates are loaded into k8s.io/apiserver's
//! ValidatingAdmissionPolicy plugin (tests/cel-oracle, the version its go.mod
//! pins, the e2e control plane's 1.37.2) and given every review fixture and
//! thousands of generated Setting requests; the API server's answer must be
//! the webhook's: denied exactly when the webhook denies for a rule the CEL
//! covers, with the rule ID and the webhook's first sentence.
//!
//! Facts: CEL.md (k8s.io/apiserver v0.37 `plugin/policy/validating`, message
//! `ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <m>`).

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use longhorn_talos_guard::cel::{self, KubeVersion, expr::first_sentence};
use longhorn_talos_guard::admission;
use longhorn_talos_guard::base::Mode;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::{Phase, registry, render};
use serde_json::{Value, json};

fn oracle() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/cel-oracle/build.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/cel-oracle/build.sh");
    assert!(
        out.status.success(),
        "tests/cel-oracle/build.sh failed (Go is needed to build the CEL oracle; this test does not skip)"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("build.sh prints the oracle's path")
        .to_string()
}

/// The API server's answers for `requests` under the policies generated for `cfg`.
fn api_server(cfg: &Config, requests: &[Value]) -> Vec<Value> {
    let generated = cel::generate(cfg, KubeVersion(cel::NEWEST_MINOR));
    let stream = generated.to_yaml();
    let objects: Vec<Value> = stream
        .split("\n---\n")
        .skip(1)
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect();
    let input = json!({
        "objects": objects,
        "namespaces": [cfg.longhorn_namespace, "default"],
        "requests": requests,
    });
    let mut child = Command::new(oracle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the oracle failed");
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
}

/// What the API server must answer for `request`, from the webhook's rules:
/// the denial (the whole error text) when a rule the CEL covers denies, and
/// the warnings of covered rules that only warn (their violations, not the
/// notes the webhook adds that never deny, such as an unchanged bad value).
fn expected(cfg: &Config, request: &Value) -> (Option<String>, Vec<String>) {
    let covered = cel::generate(cfg, KubeVersion(cel::NEWEST_MINOR)).covered;
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    let body = body.to_string();
    let facts = pipeline::offline_facts("cel oracle");
    let done = pipeline::review_with(Phase::Validate, body.as_bytes(), cfg, &facts).unwrap();
    let decoded = admission::decode(body.as_bytes()).unwrap();
    let req = decoded.request.expect("a request");
    let mut denial = None;
    let mut warnings = Vec::new();
    for (rule, mode) in registry::applicable(Phase::Validate, &req, cfg) {
        if !covered.iter().any(|(c, _)| *c == rule.id) {
            continue;
        }
        let violations = (rule.check)(&req, cfg, &facts).violations;
        if violations.is_empty() {
            continue;
        }
        let first = first_sentence(&render::denial(&violations, cfg.host.as_ref())).to_string();
        let policy = cel::policy_name(rule.id);
        match mode {
            Mode::Enforce => {
                // The webhook's own denial names the same rule and starts with the same sentence.
                assert!(done.verdict.denied_by.contains(&rule.id), "{request}");
                assert!(done.verdict.denial.as_deref().unwrap_or_default().contains(&first));
                // A Forbidden status reads `<resource>[.<group>] "<name>" is forbidden: <message>`.
                let group = request["resource"]["group"].as_str().unwrap_or_default();
                let resource = request["resource"]["resource"].as_str().unwrap_or_default();
                let qualified = if group.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource}.{group}")
                };
                let name = request["name"].as_str().unwrap_or_default();
                denial = Some(format!(
                    "{qualified} {name:?} is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: {}: {first}",
                    rule.id
                ));
            }
            _ => {
                let policy = if cfg.policies.mode(rule.id) == Mode::Enforce {
                    format!("{policy}-warn-only")
                } else {
                    policy
                };
                warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{policy}': {}: {first}",
                    rule.id
                ));
            }
        }
    }
    (denial, warnings)
}

/// Compares; returns (denials, warnings) seen.
fn compare(cfg: &Config, requests: &[Value]) -> (usize, usize) {
    let answers = api_server(cfg, requests);
    let (mut denied, mut warned) = (0, 0);
    for (request, answer) in requests.iter().zip(&answers) {
        assert_eq!(answer.get("error"), None, "{request}");
        let (want, want_warnings) = expected(cfg, request);
        let got = answer["denied"]
            .as_bool()
            .unwrap()
            .then(|| answer["message"].as_str().unwrap().to_string());
        assert_eq!(got, want, "request: {request}");
        let got_warnings: Vec<String> = answer["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        // A denied request's warnings are not compared: kubectl shows the denial.
        if want.is_none() {
            assert_eq!(got_warnings, want_warnings, "request: {request}");
        }
        denied += usize::from(want.is_some());
        warned += usize::from(!want_warnings.is_empty());
    }
    (denied, warned)
}

fn fixture_requests() -> Vec<Value> {
    let dir = common::fixture_path("admission");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let review: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            review["request"].clone()
        })
        .collect()
}

#[test]
fn review_fixtures_get_the_webhooks_verdict_from_the_api_servers_cel() {
    let cfg = Config::default();
    let requests = fixture_requests();
    assert!(requests.len() >= 20);
    let (denied, _) = compare(&cfg, &requests);
    // namespace-create-baseline, -unlabelled, -update-restricted, -no-labels-map,
    // setting-update-data-path-bad: the denials W002 and W011 give.
    assert!(denied >= 4, "only {denied} denials");
}

/// A small deterministic generator (xorshift), seeded: the same paths every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

fn setting_request(value: Option<&str>, old: Option<Option<&str>>, user: &str) -> Value {
    let object = |v: Option<&str>| {
        let mut o = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
            "metadata": {"name": "default-data-path", "namespace": "longhorn-system"}});
        if let Some(v) = v {
            o["value"] = json!(v);
        }
        o
    };
    json!({
        "uid": "u",
        "kind": {"group": "longhorn.io", "version": "v1beta2", "kind": "Setting"},
        "resource": {"group": "longhorn.io", "version": "v1beta2", "resource": "settings"},
        "name": "default-data-path",
        "namespace": "longhorn-system",
        "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
        "userInfo": {"username": user},
        "object": object(value),
        "oldObject": old.map(object),
    })
}

#[test]
fn generated_data_paths_get_the_webhooks_verdict_from_the_api_servers_cel() {
    // Components chosen to reach every place of the host model (talos source as cited in
    // src/host.rs tests) and the cleaning: "", ".", "..", quotes and backslashes in messages.
    let parts = [
        "",
        ".",
        "..",
        "var",
        "lib",
        "longhorn",
        "mnt",
        "tmp",
        "run",
        "system",
        "dev",
        "shm",
        "proc",
        "sys",
        "opt",
        "etc",
        "cni",
        "kubernetes",
        "fast",
        "data",
        "a b",
        "q\"t",
        "b\\s",
        "usr",
        "local",
    ];
    let users = [
        "admin",
        "system:serviceaccount:longhorn-system:longhorn-service-account",
        "ci-bot",
    ];
    let cfg = Config::from_yaml(
        "allowedMounts: [{path: /var/mnt/fast}]\nexemptUsernames: [ci-bot]\n",
        "t",
    )
    .unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let mut requests = Vec::new();
    for i in 0..3000 {
        let n = (rng.next() % 9) as usize;
        let mut path: String = (0..n).map(|_| format!("/{}", rng.pick(&parts))).collect();
        match i % 10 {
            0 => path = path.trim_start_matches('/').to_string(),
            1 => path.push('/'),
            _ => {}
        }
        let user = rng.pick(&users);
        let old = match i % 7 {
            0 => Some(Some(path.clone())),
            1 => Some(None),
            2 => Some(Some("/var/lib/longhorn".to_string())),
            _ => None,
        };
        requests.push(setting_request(
            Some(&path),
            old.as_ref().map(|o| o.as_deref()),
            user,
        ));
    }
    requests.push(setting_request(None, None, "admin"));
    let (denied, warned) = compare(&cfg, &requests);
    assert!(denied > 300, "only {denied} denials among {}", requests.len());
    assert!(warned > 100, "only {warned} warnings among {}", requests.len());
}
