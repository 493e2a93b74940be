//! The Talos merge held against Talos's own code: tests/talos-oracle/ runs
//! talos pkg/machinery v1.14.1 (`config/generate`, `config/configpatcher`,
//! `config/configloader`) behind a JSON-lines protocol. Every case feeds the
//! same generated base config and patches to Talos and to `talos::load`, and
//! compares whether each refuses, the values of every field the lint reads
//! (taken from Talos's merged documents as JSON, independently of the
//! project's reader), and the lint's findings on both merged configs.
//!
//! Without Go the oracle cannot be built and this test FAILS (it never
//! skips). A disagreement prints the case (contract, machine, patches) so it
//! can be replayed with the oracle by hand.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use longhorn_talos_guard::lint;
use longhorn_talos_guard::talos::{self, LintOptions, MachineConfig, codes};
use proptest::prelude::*;
use serde_json::{Value, json};

struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Generated configs by (contract, machine).
    bases: BTreeMap<(String, String), String>,
}

const CONTRACTS: [&str; 4] = ["1.7", "1.10", "1.12", "1.14"];
const MACHINES: [&str; 2] = ["controlplane", "worker"];

impl Oracle {
    fn start() -> Oracle {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("tests/talos-oracle/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/talos-oracle/build.sh");
        assert!(
            out.status.success(),
            "tests/talos-oracle/build.sh failed (Go is needed to build the Talos oracle; this test does not skip)"
        );
        let bin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("build.sh prints the oracle's path")
            .to_string();
        let mut child = Command::new(&bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the oracle");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut oracle = Oracle {
            _child: child,
            stdin,
            stdout,
            bases: BTreeMap::new(),
        };
        for contract in CONTRACTS {
            for machine in MACHINES {
                let answer = oracle.ask(&json!({
                    "op": "generate",
                    "contract": contract,
                    "machine": machine,
                    "installImage": format!("ghcr.io/siderolabs/installer:v{contract}.0"),
                }));
                let yaml = answer["yaml"]
                    .as_str()
                    .expect("a generated config")
                    .to_string();
                oracle
                    .bases
                    .insert((contract.to_string(), machine.to_string()), yaml);
            }
        }
        oracle
    }

    fn ask(&mut self, request: &Value) -> Value {
        writeln!(self.stdin, "{request}").expect("write to the oracle");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the oracle");
        let answer: Value = serde_json::from_str(&line).expect("the oracle answers JSON");
        assert!(
            answer.get("fatal").is_none(),
            "the oracle could not serve {request}: {answer}"
        );
        answer
    }
}

fn oracle() -> &'static Mutex<Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE.get_or_init(|| Mutex::new(Oracle::start()))
}

/// One case: a generated base and the patches applied to it, in order.
#[derive(Debug, Clone)]
struct Case {
    contract: &'static str,
    machine: &'static str,
    patches: Vec<String>,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "contract {} {} (installer v{}.0), patches in order:",
            self.contract, self.machine, self.contract
        )?;
        for (i, p) in self.patches.iter().enumerate() {
            writeln!(f, "--- patch-{i}.yaml\n{p}")?;
        }
        Ok(())
    }
}

/// An extraMount's destination, source, type and options.
type Mount = (Option<String>, Option<String>, Option<String>, Vec<String>);

/// The values of the fields the lint reads, with no positions.
#[derive(Debug, Default, PartialEq, Eq)]
struct Fields {
    install_image: Option<String>,
    install_extensions: Vec<String>,
    install_kernel_args: Vec<String>,
    extra_mounts: Vec<Mount>,
    sysctls: BTreeMap<String, String>,
    kernel_modules: Vec<String>,
    node_labels: BTreeMap<String, String>,
    node_annotations: BTreeMap<String, String>,
    pod_security: Option<(Option<String>, Vec<String>)>,
    pod_security_document: Option<(Option<String>, Vec<String>)>,
    kubelet_config: bool,
    sysctl_documents: BTreeMap<String, String>,
    kernel_module_documents: Vec<String>,
    volumes: Vec<(String, String, Option<String>)>,
    raw_volumes: Vec<String>,
    system_volumes: Vec<String>,
    workload_isolation: Option<bool>,
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn texts(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| nonempty(Some(x))).collect())
        .unwrap_or_default()
}

/// A JSON scalar as the text Talos writes into a `map[string]string`.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn string_map(v: Option<&Value>, into: &mut BTreeMap<String, String>) {
    if let Some(m) = v.and_then(Value::as_object) {
        for (k, v) in m {
            into.insert(k.clone(), scalar_text(v));
        }
    }
}

fn psa(configuration: Option<&Value>) -> (Option<String>, Vec<String>) {
    let c = configuration.cloned().unwrap_or(Value::Null);
    (
        nonempty(c.pointer("/defaults/enforce")),
        texts(c.pointer("/exemptions/namespaces")),
    )
}

/// The fields, read off Talos's merged documents (JSON).
fn fields_of_talos(docs: &[Value]) -> Fields {
    let mut f = Fields::default();
    let mut doc_labels = BTreeMap::new();
    let mut doc_annotations = BTreeMap::new();
    for d in docs {
        let kind = d.get("kind").and_then(Value::as_str);
        let name = nonempty(d.get("name"));
        match kind {
            None => {
                let m = d.get("machine").cloned().unwrap_or(Value::Null);
                f.install_image = nonempty(m.pointer("/install/image"));
                f.install_kernel_args = texts(m.pointer("/install/extraKernelArgs"));
                f.install_extensions = m
                    .pointer("/install/extensions")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|e| nonempty(e.get("image"))).collect())
                    .unwrap_or_default();
                for em in m
                    .pointer("/kubelet/extraMounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    f.extra_mounts.push((
                        nonempty(em.get("destination")),
                        nonempty(em.get("source")),
                        nonempty(em.get("type")),
                        texts(em.get("options")),
                    ));
                }
                string_map(m.get("sysctls"), &mut f.sysctls);
                string_map(m.get("nodeLabels"), &mut f.node_labels);
                string_map(m.get("nodeAnnotations"), &mut f.node_annotations);
                f.kernel_modules = m
                    .pointer("/kernel/modules")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|e| nonempty(e.get("name"))).collect())
                    .unwrap_or_default();
                for p in d
                    .pointer("/cluster/apiServer/admissionControl")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if p.get("name").and_then(Value::as_str) == Some("PodSecurity") {
                        f.pod_security = Some(psa(p.get("configuration")));
                    }
                }
            }
            Some("UnattendedInstallConfig") => {
                if let Some(i) = nonempty(d.pointer("/installer/image")) {
                    f.install_image = Some(i);
                }
            }
            Some("KubeNodeConfig") => {
                string_map(d.get("labels"), &mut doc_labels);
                string_map(d.get("annotations"), &mut doc_annotations);
            }
            Some("SysctlConfig") => string_map(d.get("params"), &mut f.sysctl_documents),
            Some("KubeletConfig") => f.kubelet_config = true,
            Some("KubeAdmissionControlConfig") if name.as_deref() == Some("PodSecurity") => {
                f.pod_security_document = Some(psa(d.get("configuration")));
            }
            Some("KernelModuleConfig") => f.kernel_module_documents.push(name.unwrap_or_default()),
            Some("RawVolumeConfig") => f.raw_volumes.push(name.unwrap_or_default()),
            Some("SecurityProfileConfig") => {
                f.workload_isolation =
                    Some(d.get("workloadIsolation").and_then(Value::as_bool) == Some(true));
            }
            // talos block.ProvisioningRequested: a disk selector, grow, minSize or maxSize.
            Some("VolumeConfig")
                if matches!(name.as_deref(), Some("ETCD" | "CRI" | "KUBELET" | "LOG"))
                    && d.get("provisioning").is_some_and(|p| {
                        nonempty(p.pointer("/diskSelector/match")).is_some()
                            || p.get("grow").is_some_and(|g| !g.is_null())
                            || nonempty(p.get("minSize")).is_some()
                            || nonempty(p.get("maxSize")).is_some()
                    }) =>
            {
                f.system_volumes.push(name.unwrap_or_default());
            }
            Some(k @ ("UserVolumeConfig" | "ExistingVolumeConfig" | "ExternalVolumeConfig")) => {
                f.volumes.push((
                    k.to_string(),
                    name.unwrap_or_default(),
                    nonempty(d.get("volumeType")),
                ));
            }
            _ => {}
        }
    }
    f.node_labels.extend(doc_labels);
    f.node_annotations.extend(doc_annotations);
    f
}

/// The same fields, from the project's merged config.
fn fields_of_project(c: &MachineConfig) -> Fields {
    let map = |m: &BTreeMap<String, talos::Sourced<String>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    };
    let ps = |p: &Option<talos::Sourced<talos::PodSecurity>>| {
        p.as_ref()
            .map(|p| (p.value.enforce.clone(), p.value.exempt_namespaces.clone()))
    };
    Fields {
        install_image: c.install_image.as_ref().map(|i| i.value.clone()),
        install_extensions: c
            .install_extensions
            .iter()
            .map(|e| e.value.clone())
            .collect(),
        install_kernel_args: c
            .install_kernel_args
            .iter()
            .map(|e| e.value.clone())
            .collect(),
        extra_mounts: c
            .extra_mounts
            .iter()
            .map(|m| {
                let m = &m.value;
                (
                    m.destination.clone(),
                    m.source.clone(),
                    m.mount_type.clone(),
                    m.options.clone(),
                )
            })
            .collect(),
        sysctls: map(&c.sysctls),
        kernel_modules: c.kernel_modules.iter().map(|m| m.value.clone()).collect(),
        node_labels: map(&c.node_labels),
        node_annotations: map(&c.node_annotations),
        pod_security: ps(&c.pod_security),
        pod_security_document: ps(&c.pod_security_document),
        kubelet_config: c.kubelet_config.is_some(),
        sysctl_documents: map(&c.sysctl_documents),
        kernel_module_documents: c
            .kernel_module_documents
            .iter()
            .map(|m| m.value.clone())
            .collect(),
        volumes: c
            .volumes
            .iter()
            .map(|v| {
                (
                    v.value.kind.to_string(),
                    v.value.name.clone(),
                    v.value.volume_type.clone(),
                )
            })
            .collect(),
        raw_volumes: c.raw_volumes.iter().map(|v| v.value.clone()).collect(),
        system_volumes: c.system_volumes.iter().map(|v| v.value.clone()).collect(),
        workload_isolation: c.workload_isolation.as_ref().map(|w| w.value),
    }
}

/// The lint's findings as (severity, code), sorted: positions differ
/// between a merged config and its parts by design.
fn finding_codes(c: &MachineConfig) -> Vec<String> {
    let options = LintOptions {
        v2: true,
        ..LintOptions::default()
    };
    let mut out: Vec<String> = lint::lint(c, &options)
        .iter()
        .map(|f| format!("{}[{}]", f.severity, f.code))
        .collect();
    out.sort();
    out
}

/// What one case came to.
#[derive(Debug)]
enum Outcome {
    /// Both refused the config, for the reason given (Talos's, shortened).
    BothRefused(String),
    /// Both accepted it and agree.
    Agreed,
}

/// Runs a case through Talos and the project and checks that they agree;
/// `Err` says how they differ, with the case.
fn check(case: &Case) -> Result<Outcome, String> {
    let (answer, base) = {
        let mut o = oracle().lock().unwrap_or_else(|e| e.into_inner());
        let base = o.bases[&(case.contract.to_string(), case.machine.to_string())].clone();
        let answer = o.ask(&json!({"op": "patch", "base": base, "patches": case.patches}));
        (answer, base)
    };
    let mut inputs = vec![("base.yaml".to_string(), base)];
    for (i, p) in case.patches.iter().enumerate() {
        inputs.push((format!("patch-{i}.yaml"), p.clone()));
    }
    let project = talos::load(&inputs)
        .map_err(|e| format!("the project cannot read the case: {e}\n{case}"))?;
    let project_codes = finding_codes(&project);
    let project_refuses = project_codes.iter().any(|c| {
        c.contains(codes::TALOS_REFUSES) || c.contains(codes::EXTRA_MOUNTS_WITH_KUBELET_CONFIG)
    });
    let talos_error = answer["error"].as_str().map(str::to_string);
    match (&talos_error, project_refuses) {
        (Some(e), true) => {
            let reasons: Vec<&str> = project.refusals.iter().map(|r| r.value.as_str()).collect();
            if !same_reason(e, &reasons, &project_codes) {
                return Err(format!(
                    "both refuse the config, for different reasons\n  Talos:   {e}\n  project: {reasons:?} {project_codes:?}\n{case}"
                ));
            }
            return Ok(Outcome::BothRefused(short_reason(e)));
        }
        (Some(e), false) => {
            return Err(format!(
                "Talos refuses the config ({}: {e}) but the project does not (findings {project_codes:?})\n{case}",
                answer["stage"]
            ));
        }
        (None, true) => {
            return Err(format!(
                "the project refuses the config but Talos accepts it (findings {project_codes:?}, refusals {:?})\n{case}",
                project
                    .refusals
                    .iter()
                    .map(|r| &r.value)
                    .collect::<Vec<_>>()
            ));
        }
        (None, false) => {}
    }
    let docs = answer["documents"].as_array().cloned().unwrap_or_default();
    let want = fields_of_talos(&docs);
    let got = fields_of_project(&project);
    if want != got {
        return Err(format!(
            "the merged fields differ\n  Talos:   {want:?}\n  project: {got:?}\n{case}"
        ));
    }
    let merged = answer["merged"].as_str().unwrap_or_default().to_string();
    let talos_merged = talos::load(&[("talos-merged.yaml".to_string(), merged)])
        .map_err(|e| format!("the project cannot read Talos's merged config: {e}\n{case}"))?;
    let talos_codes = finding_codes(&talos_merged);
    if talos_codes != project_codes {
        return Err(format!(
            "the findings differ\n  on Talos's merge:   {talos_codes:?}\n  on the project's:   {project_codes:?}\n{case}"
        ));
    }
    Ok(Outcome::Agreed)
}

/// Talos's error without its wrapping ("1 error occurred", bullets) and
/// document names, cut to its first line: what a summary counts.
fn short_reason(e: &str) -> String {
    let line = e
        .lines()
        .map(|l| l.trim().trim_start_matches("* "))
        .find(|l| {
            !l.is_empty() && !l.ends_with("error occurred:") && !l.ends_with("errors occurred:")
        })
        .unwrap_or_default();
    let line = line.rsplit(": ").next().unwrap_or(line);
    line.chars().take(90).collect()
}

/// Whether the project refuses for Talos's reason: one of its refusals
/// (up to its own explanation in parentheses or after `;`) is part of
/// Talos's error, or LTG-T015 stands for Talos's `.machine.kubelet` rule.
fn same_reason(talos: &str, refusals: &[&str], codes_found: &[String]) -> bool {
    let talos_flat = talos.split_whitespace().collect::<Vec<_>>().join(" ");
    let kubelet = talos_flat.contains("kubelet config is already set in v1alpha1 config")
        && codes_found
            .iter()
            .any(|c| c.contains(codes::EXTRA_MOUNTS_WITH_KUBELET_CONFIG));
    kubelet
        || refusals.iter().any(|r| {
            let core = r.split([';', '(']).next().unwrap_or(r).trim();
            let core = match core.split_once("unknown keys found during decoding") {
                Some(_) => "unknown keys found during decoding",
                None => core,
            };
            talos_flat.contains(core)
        })
}

fn case(contract: &'static str, machine: &'static str, patches: &[&str]) -> Case {
    Case {
        contract,
        machine,
        patches: patches.iter().map(|p| p.to_string()).collect(),
    }
}

const GUIDE_MOUNT: &str = "machine:\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        type: bind\n        source: /var/lib/longhorn\n        options: [bind, rshared, rw]\n";
const V2_LEGACY: &str = "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n  kernel:\n    modules:\n      - name: nvme_tcp\n      - name: vfio_pci\n";

/// Asserts the case's outcome and, for the hand-written cases, what the
/// project reads (so the case tests the rule it is named for).
fn expect(c: Case, outcome: &str, what: impl Fn(&MachineConfig) -> bool) {
    match check(&c) {
        Ok(o) => assert_eq!(
            format!("{o:?}").split('(').next().unwrap_or_default(),
            outcome,
            "{c}"
        ),
        Err(e) => panic!("{e}"),
    }
    let mut inputs = vec![(
        "base.yaml".to_string(),
        oracle().lock().unwrap_or_else(|e| e.into_inner()).bases
            [&(c.contract.to_string(), c.machine.to_string())]
            .clone(),
    )];
    for (i, p) in c.patches.iter().enumerate() {
        inputs.push((format!("patch-{i}.yaml"), p.clone()));
    }
    let config = talos::load(&inputs).unwrap();
    assert!(what(&config), "{c}\n{config:#?}");
}

// --- the "Seen" list (FACTS.md "Talos patch merge"), one test each

#[test]
fn delete_an_extra_mount_by_destination() {
    let delete = "machine:\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        $patch: delete\n";
    expect(
        case("1.10", "worker", &[GUIDE_MOUNT, delete]),
        "Agreed",
        |c| c.extra_mounts.is_empty(),
    );
}

#[test]
fn delete_the_whole_extra_mounts_field() {
    let delete = "machine:\n  kubelet:\n    extraMounts:\n      $patch: delete\n";
    expect(
        case("1.7", "worker", &[GUIDE_MOUNT, delete]),
        "Agreed",
        |c| c.extra_mounts.is_empty(),
    );
}

#[test]
fn delete_then_add_replaces_an_entry() {
    let replace = "machine:\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        $patch: delete\n      - destination: /var/lib/longhorn\n        type: bind\n        source: /var/lib/longhorn\n        options: [bind, rw]\n";
    expect(
        case("1.10", "worker", &[GUIDE_MOUNT, replace]),
        "Agreed",
        |c| c.extra_mounts.len() == 1 && !c.extra_mounts[0].value.has_option("rshared"),
    );
}

#[test]
fn delete_a_sysctl_key_and_a_module() {
    let delete = "machine:\n  sysctls:\n    vm.nr_hugepages:\n      $patch: delete\n  kernel:\n    modules:\n      - name: vfio_pci\n        $patch: delete\n";
    expect(
        case("1.10", "worker", &[V2_LEGACY, delete]),
        "Agreed",
        |c| c.sysctl("vm.nr_hugepages").is_none() && c.kernel_modules.len() == 1,
    );
}

#[test]
fn deleting_what_is_not_there_is_refused() {
    let delete = "machine:\n  kubelet:\n    extraMounts:\n      - destination: /nowhere\n        $patch: delete\n";
    expect(
        case("1.10", "worker", &[GUIDE_MOUNT, delete]),
        "BothRefused",
        |c| c.refusals[0].value.contains("lookup failed"),
    );
}

#[test]
fn a_zero_value_never_overwrites() {
    let zero = "machine:\n  sysctls:\n    vm.nr_hugepages: \"\"\n  kernel:\n    modules: []\n";
    expect(case("1.7", "worker", &[V2_LEGACY, zero]), "Agreed", |c| {
        c.sysctl("vm.nr_hugepages").map(|s| s.value.as_str()) == Some("1024")
    });
}

#[test]
fn admission_plugins_merge_by_name() {
    // Controlplane configs carry Talos's default PodSecurity entry (enforce baseline).
    let warn_only = "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            warn: privileged\n";
    expect(case("1.10", "controlplane", &[warn_only]), "Agreed", |c| {
        c.pod_security
            .as_ref()
            .and_then(|p| p.value.enforce.as_deref())
            == Some("baseline")
    });
    let exempt = "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          exemptions:\n            namespaces: [longhorn-system]\n";
    let restricted = "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            enforce: restricted\n";
    expect(
        case("1.12", "controlplane", &[exempt, restricted]),
        "Agreed",
        |c| {
            let ps = &c.pod_security.as_ref().unwrap().value;
            ps.enforce.as_deref() == Some("restricted")
                && ps
                    .exempt_namespaces
                    .contains(&"longhorn-system".to_string())
        },
    );
}

#[test]
fn the_admission_control_document_merges_the_same_way() {
    let exempt = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  exemptions:\n    namespaces: [longhorn-system]\n";
    let restricted = "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  defaults:\n    enforce: restricted\n";
    expect(
        case("1.14", "controlplane", &[exempt, restricted]),
        "Agreed",
        |c| {
            let ps = &c.pod_security_document.as_ref().unwrap().value;
            ps.enforce.as_deref() == Some("restricted")
                && ps
                    .exempt_namespaces
                    .contains(&"longhorn-system".to_string())
        },
    );
}

#[test]
fn json6902_on_single_document_configs_only() {
    let op = "- op: add\n  path: /machine/sysctls\n  value:\n    vm.nr_hugepages: \"1024\"\n";
    expect(case("1.7", "worker", &[op]), "Agreed", |c| {
        c.sysctl("vm.nr_hugepages").is_some()
    });
    expect(case("1.14", "worker", &[op]), "BothRefused", |c| {
        c.refusals[0].value.contains("multi-document")
    });
}

#[test]
fn talos_1_14_node_labels_and_install_documents() {
    let node = "apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  node.longhorn.io/create-default-disk: config\nannotations:\n  node.longhorn.io/default-disks-config: '[{\"path\":\"/var/mnt/longhorn\"}]'\n";
    expect(case("1.14", "worker", &[node]), "Agreed", |c| {
        c.node_labels
            .contains_key("node.longhorn.io/create-default-disk")
            && c.install_image.as_ref().map(|i| i.value.as_str())
                == Some("ghcr.io/siderolabs/installer:v1.14.0")
    });
}

#[test]
fn configs_talos_refuses() {
    let merge_key = "machine:\n  <<: {sysctls: {vm.nr_hugepages: \"1024\"}}\n";
    expect(case("1.10", "worker", &[merge_key]), "BothRefused", |c| {
        c.sysctl("vm.nr_hugepages").is_none()
    });
    let unknown = "machine:\n  kubelet:\n    extraMount:\n      - destination: /var/lib/longhorn\n";
    expect(case("1.10", "worker", &[unknown]), "BothRefused", |c| {
        !c.refusals.is_empty()
    });
    let uki = "machine:\n  install:\n    extraKernelArgs: [hugepages=1024]\n";
    expect(case("1.12", "worker", &[uki]), "BothRefused", |c| {
        c.boot_hugepages_2m().is_none()
    });
    let directory = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: directory\nprovisioning:\n  minSize: 10GiB\n";
    expect(case("1.10", "worker", &[directory]), "BothRefused", |c| {
        !c.refusals.is_empty()
    });
    let bare = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n";
    expect(case("1.12", "worker", &[bare]), "BothRefused", |c| {
        c.volumes.is_empty()
    });
    expect(
        case("1.14", "worker", &[GUIDE_MOUNT]),
        "BothRefused",
        |_| true,
    );
}

#[test]
fn the_security_profile_document_merges_the_same_way() {
    // siderolabs/talos pkg/machinery config/types/runtime/security_profile_config.go (v1.14.1
    // here, read at v1.14.0-rc.1): unnamed, workloadIsolation a *bool; config/generate writes
    // it with true for contracts after 1.13.
    let off = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: false\n";
    let on = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: true\n";
    let empty = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n";
    let delete = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n$patch: delete\n";
    let isolation = |want: Option<bool>| {
        move |c: &MachineConfig| c.workload_isolation.as_ref().map(|w| w.value) == want
    };
    for machine in MACHINES {
        // The generated 1.14 config is isolated; 1.12's has no document.
        expect(case("1.14", machine, &[]), "Agreed", isolation(Some(true)));
        expect(case("1.12", machine, &[]), "Agreed", isolation(None));
    }
    // An explicit false overrides the generated true; a patch without the field keeps it.
    expect(
        case("1.14", "worker", &[off]),
        "Agreed",
        isolation(Some(false)),
    );
    expect(
        case("1.14", "worker", &[off, on]),
        "Agreed",
        isolation(Some(true)),
    );
    expect(
        case("1.14", "worker", &[empty]),
        "Agreed",
        isolation(Some(true)),
    );
    expect(
        case("1.12", "worker", &[empty]),
        "Agreed",
        isolation(Some(false)),
    );
    // `$patch: delete` removes the document; a whole document that is not there is no
    // error (unlike a list item or a key: deleting_what_is_not_there_is_refused).
    expect(case("1.14", "worker", &[delete]), "Agreed", isolation(None));
    expect(
        case("1.12", "worker", &[on]),
        "Agreed",
        isolation(Some(true)),
    );
    expect(case("1.12", "worker", &[delete]), "Agreed", isolation(None));
    expect(
        case("1.14", "worker", &[delete, on]),
        "Agreed",
        isolation(Some(true)),
    );
    // A misspelt field is an unknown key: Talos refuses the config, and it is not read.
    let typo = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolated: false\n";
    expect(case("1.14", "worker", &[typo]), "BothRefused", |c| {
        c.refusals[0].value.contains("workloadIsolated")
    });
}

#[test]
fn system_volumes_of_their_own_merge_the_same_way() {
    // siderolabs/talos pkg/machinery config/types/block/volume_config.go: ETCD, CRI, KUBELET and
    // LOG are partitions of their own only when provisioning is requested; minSize and the disk
    // selector are replaced on every merge of the document.
    let kubelet = "apiVersion: v1alpha1\nkind: VolumeConfig\nname: KUBELET\nprovisioning:\n  minSize: 10GiB\n";
    let kubelet_max = "apiVersion: v1alpha1\nkind: VolumeConfig\nname: KUBELET\nprovisioning:\n  maxSize: 40GiB\n";
    let log_grow =
        "apiVersion: v1alpha1\nkind: VolumeConfig\nname: LOG\nprovisioning:\n  grow: false\n";
    let delete = "apiVersion: v1alpha1\nkind: VolumeConfig\nname: KUBELET\n$patch: delete\n";
    let ids = |want: &'static [&'static str]| {
        move |c: &MachineConfig| {
            c.system_volumes
                .iter()
                .map(|v| v.value.as_str())
                .collect::<Vec<_>>()
                == want
        }
    };
    expect(case("1.14", "worker", &[]), "Agreed", ids(&[]));
    expect(
        case("1.14", "worker", &[kubelet, log_grow]),
        "Agreed",
        ids(&["KUBELET", "LOG"]),
    );
    // A later KUBELET document without minSize clears it (replaced), maxSize keeps it a partition.
    expect(
        case("1.14", "controlplane", &[kubelet, kubelet_max]),
        "Agreed",
        ids(&["KUBELET"]),
    );
    expect(
        case("1.14", "worker", &[kubelet, delete]),
        "Agreed",
        ids(&[]),
    );
}

#[test]
fn the_known_keys_are_talos_own() {
    // Unknown keys are refused by Talos's strict decoder; the table the
    // project checks them with must be Talos's types, field for field.
    let paths: Vec<&str> = talos::KNOWN_KEYS.iter().map(|(p, _)| *p).collect();
    let answer = oracle()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ask(&json!({"op": "keys", "paths": paths}));
    for (path, keys) in talos::KNOWN_KEYS {
        let talos: Vec<&str> = answer["keys"][path]
            .as_array()
            .unwrap_or_else(|| panic!("no keys for {path}: {answer}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(&talos, keys, "the keys of {path}");
    }
}

// --- generated patch sequences

/// One patch over a field the lint reads.
fn patch_strategy() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec![
        "/var/lib/longhorn",
        "/var/mnt/longhorn",
        "/var/mnt/fast",
        "/mnt/data",
    ]);
    let module = prop::sample::select(vec![
        "nvme_tcp",
        "vfio_pci",
        "uio_pci_generic",
        "dm_multipath",
    ]);
    let hugepages = prop::sample::select(vec![
        "\"1024\"",
        "\"512\"",
        "\"\"",
        "2048",
        "\"0x400\"",
        "0",
    ]);
    let level = prop::sample::select(vec!["privileged", "baseline", "restricted", "\"\""]);
    let namespaces = prop::sample::subsequence(vec!["kube-system", "longhorn-system"], 0..=2);
    let volume = prop::sample::select(vec!["longhorn", "fast"]);
    let vtype = prop::sample::select(vec![
        "",
        "volumeType: directory\n",
        "volumeType: partition\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n",
        "volumeType: disk\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n",
        "provisioning:\n  diskSelector: {match: \"!system_disk\"}\n  maxSize: 80%\n",
    ]);
    let label = prop::sample::select(vec!["config", "true", ""]);
    prop_oneof![
        3 => (path.clone(), any::<bool>(), prop::sample::subsequence(vec!["bind", "rshared", "rw", "ro"], 0..=4))
            .prop_map(|(p, same, opts)| {
                let source = if same { p } else { "/var/lib/other" };
                format!("machine:\n  kubelet:\n    extraMounts:\n      - destination: {p}\n        type: bind\n        source: {source}\n        options: [{}]\n", opts.join(", "))
            }),
        1 => path.clone().prop_map(|p| format!("machine:\n  kubelet:\n    extraMounts:\n      - destination: {p}\n        $patch: delete\n")),
        1 => Just("machine:\n  kubelet:\n    extraMounts:\n      $patch: delete\n".to_string()),
        3 => Just("machine:\n  kubelet:\n    extraMounts: []\n".to_string()),
        3 => module.clone().prop_map(|m| format!("machine:\n  kernel:\n    modules:\n      - name: {m}\n")),
        1 => module.clone().prop_map(|m| format!("machine:\n  kernel:\n    modules:\n      - name: {m}\n        $patch: delete\n")),
        3 => module.prop_map(|m| format!("apiVersion: v1alpha1\nkind: KernelModuleConfig\nname: {m}\n")),
        3 => hugepages.clone().prop_map(|h| format!("machine:\n  sysctls:\n    vm.nr_hugepages: {h}\n")),
        1 => Just("machine:\n  sysctls:\n    vm.nr_hugepages:\n      $patch: delete\n".to_string()),
        3 => hugepages.prop_map(|h| format!("apiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: {h}\n")),
        3 => (level.clone(), namespaces.clone()).prop_map(|(l, ns)| format!(
            "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            enforce: {l}\n          exemptions:\n            namespaces: [{}]\n",
            ns.join(", ")
        )),
        3 => (level, namespaces).prop_map(|(l, ns)| format!(
            "apiVersion: v1alpha1\nkind: KubeAdmissionControlConfig\nname: PodSecurity\nconfiguration:\n  defaults:\n    enforce: {l}\n  exemptions:\n    namespaces: [{}]\n",
            ns.join(", ")
        )),
        3 => label.clone().prop_map(|l| format!("machine:\n  nodeLabels:\n    node.longhorn.io/create-default-disk: \"{l}\"\n")),
        3 => path.clone().prop_map(|p| format!("machine:\n  nodeAnnotations:\n    node.longhorn.io/default-disks-config: '[{{\"path\":\"{p}\"}}]'\n")),
        3 => (label, path).prop_map(|(l, p)| format!("apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  node.longhorn.io/create-default-disk: \"{l}\"\nannotations:\n  node.longhorn.io/default-disks-config: '[{{\"path\":\"{p}\"}}]'\n")),
        3 => (volume.clone(), vtype).prop_map(|(v, t)| format!("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: {v}\n{t}")),
        1 => volume.prop_map(|v| format!("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: {v}\n$patch: delete\n")),
        1 => prop::sample::select(vec!["hugepages=1024", "hugepagesz=2M hugepages=512"])
            .prop_map(|a| format!("machine:\n  install:\n    extraKernelArgs: [\"{a}\"]\n")),
        2 => prop::sample::select(vec!["v1.8.0", "v1.13.8", "v1.14.1"]).prop_map(|v| format!(
            "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:{v}\n"
        )),
        2 => prop::sample::select(vec!["v1.13.9", "v1.14.1"]).prop_map(|v| format!(
            "apiVersion: v1alpha1\nkind: UnattendedInstallConfig\ninstaller:\n  image: ghcr.io/siderolabs/installer:{v}\n"
        )),
        2 => prop::sample::select(vec!["true", "false", ""]).prop_map(|w| if w.is_empty() {
            "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n".to_string()
        } else {
            format!("apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: {w}\n")
        }),
        1 => Just("apiVersion: v1alpha1\nkind: SecurityProfileConfig\n$patch: delete\n".to_string()),
        2 => (
            prop::sample::select(vec!["KUBELET", "LOG", "CRI", "ETCD"]),
            prop::sample::select(vec![
                "",
                "provisioning:\n  minSize: 10GiB\n",
                "provisioning:\n  maxSize: 40GiB\n",
                "provisioning:\n  grow: false\n",
                "provisioning:\n  diskSelector: {match: \"!system_disk\"}\n",
            ]),
        ).prop_map(|(n, p)| format!("apiVersion: v1alpha1\nkind: VolumeConfig\nname: {n}\n{p}")),
        2 => prop::sample::select(vec![
            "- op: add\n  path: /machine/sysctls\n  value: {vm.nr_hugepages: \"2048\"}\n",
            "- op: add\n  path: /machine/kubelet/extraMounts/-\n  value: {destination: /var/lib/longhorn, type: bind, source: /var/lib/longhorn, options: [bind, rshared, rw]}\n",
            "- op: remove\n  path: /machine/kubelet\n",
            "- op: replace\n  path: /machine/install/image\n  value: ghcr.io/siderolabs/installer:v1.13.8\n",
        ]).prop_map(str::to_string),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(CONTRACTS.to_vec()),
        prop::sample::select(MACHINES.to_vec()),
        prop::collection::vec(patch_strategy(), 1..=5),
    )
        .prop_map(|(contract, machine, patches)| Case {
            contract,
            machine,
            patches,
        })
}

/// How many generated cases one run checks (one `cargo test` = one run).
const GENERATED_CASES: u32 = 600;

#[test]
fn generated_patch_sequences_agree_with_talos() {
    let _ = oracle();
    let started = Instant::now();
    let counts = Mutex::new((0u32, 0u32));
    let reasons: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());
    // The same cases on every run, so that CI cannot turn red at random;
    // `PROPTEST_RNG_SEED=N` explores another set (a disagreement prints the
    // case to replay).
    let defaults = ProptestConfig::default();
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        defaults.rng_seed
    } else {
        proptest::test_runner::RngSeed::Fixed(0x4c54_4754_616c)
    };
    let config = ProptestConfig {
        cases: GENERATED_CASES,
        failure_persistence: None,
        rng_seed,
        ..defaults
    };
    proptest!(config, |(c in case_strategy())| {
        let outcome = check(&c);
        let mut n = counts.lock().unwrap_or_else(|e| e.into_inner());
        match &outcome {
            Ok(Outcome::Agreed) => n.0 += 1,
            Ok(Outcome::BothRefused(why)) => {
                n.1 += 1;
                *reasons
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(why.clone())
                    .or_default() += 1;
            }
            Err(_) => {}
        }
        drop(n);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    });
    let (agreed, refused) = *counts.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "talos_oracle: {} generated cases in {:.1} s: {agreed} merged alike, {refused} refused by both",
        agreed + refused,
        started.elapsed().as_secs_f64()
    );
    for (why, n) in reasons.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        eprintln!("talos_oracle:   refused by both {n:4}x: {why}");
    }
    // The generator must exercise both paths, or the comparison proves little.
    assert!(agreed > GENERATED_CASES / 4, "only {agreed} accepted cases");
    assert!(refused > 0, "no refused case");
}

#[test]
fn json6902_sees_the_config_as_written_out() {
    // An empty extraMounts list is not written out, so a JSON6902 add to its end fails in Talos.
    let empty = "machine:\n  kubelet:\n    extraMounts: []\n";
    let add = "- op: add\n  path: /machine/kubelet/extraMounts/-\n  value: {destination: /var/lib/longhorn, type: bind, source: /var/lib/longhorn, options: [bind, rshared, rw]}\n";
    expect(
        case("1.7", "controlplane", &[empty, add]),
        "BothRefused",
        |c| c.extra_mounts.is_empty(),
    );
    expect(
        case("1.7", "controlplane", &[GUIDE_MOUNT, add]),
        "Agreed",
        |c| c.extra_mounts.len() == 2,
    );
}
