//! `check`: evaluates Kubernetes manifests offline as CREATE requests, through
//! the same typed objects, mutate-then-validate and rules the webhook runs
//! (no AdmissionReview is built: the objects are decoded directly).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base::longhorn::{CREATE_DEFAULT_DISK_LABEL, DEFAULT_SETTING_CONFIGMAP, SETTINGS_READ};
use crate::config::Config;
use crate::pipeline;
use crate::policy::{Kind, Phase, apiserver};

/// The user the offline requests are made as.
pub const CHECK_USER: &str = "longhorn-talos-guard-check";

/// Input that cannot be read as manifests (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error (in the message, not chained, so it prints once).
        error: std::io::Error,
    },
    /// The text is neither JSON nor YAML of Kubernetes objects.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message, with its position.
        message: String,
    },
}

/// What the webhook would do with one object.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// An object the shipped webhooks are not called for (a kind no rule
    /// reads, or outside their selectors): `apiVersion kind`.
    Ignored {
        /// `apiVersion kind` of the object.
        what: String,
    },
    /// kube-apiserver refuses the object before any webhook is called
    /// (what `kubectl apply` prints, from [`crate::policy::apiserver`]).
    Refused {
        /// The API server's message.
        reason: String,
    },
    /// The object was evaluated.
    Judged {
        /// The denial message, if denied.
        denial: Option<String>,
        /// Warnings kubectl would print.
        warnings: Vec<String>,
        /// Labels the mutating webhook would add.
        added_labels: Vec<(String, String)>,
    },
}

/// One object of the input and its outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectResult {
    /// The file it came from (`-` for standard input).
    pub file: String,
    /// 1-based position among the file's objects.
    pub index: usize,
    /// `kind` of the object.
    pub kind: String,
    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub name: String,
    /// What the webhook would do.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ObjectResult {
    /// True when the webhook would deny the object.
    pub fn denied(&self) -> bool {
        matches!(
            &self.outcome,
            Outcome::Judged {
                denial: Some(_),
                ..
            }
        )
    }

    /// True when `kubectl apply` of the object would fail: the webhook
    /// denies it or kube-apiserver refuses it.
    pub fn fails(&self) -> bool {
        self.denied() || matches!(self.outcome, Outcome::Refused { .. })
    }
}

/// Reads the files, folders (recursively: `*.yaml`, `*.yml`, `*.json`) and `-`
/// (standard input) into `(name, text)` pairs, in a stable order.
pub fn read_inputs(paths: &[PathBuf]) -> Result<Vec<(String, String)>, CheckError> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
                CheckError::Read {
                    path: "-".into(),
                    error: source,
                }
            })?;
            out.push(("-".to_string(), text));
        } else {
            collect(path, true, &mut out)?;
        }
    }
    Ok(out)
}

fn collect(path: &Path, explicit: bool, out: &mut Vec<(String, String)>) -> Result<(), CheckError> {
    let err = |source| CheckError::Read {
        path: path.display().to_string(),
        error: source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        entries.sort();
        for entry in entries {
            collect(&entry, false, out)?;
        }
        return Ok(());
    }
    let manifest = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    );
    if explicit || manifest {
        let text = std::fs::read_to_string(path).map_err(err)?;
        out.push((path.display().to_string(), text));
    }
    Ok(())
}

/// Parses one input into its objects (a `List` is expanded into its items).
pub fn parse_objects(file: &str, text: &str) -> Result<Vec<Value>, CheckError> {
    let parse_err = |message: String| CheckError::Parse {
        file: file.to_string(),
        message,
    };
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text).map_err(|e| parse_err(e.to_string()))? {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        // serde-saphyr stops a stream after 1,024 documents by default; a
        // rendered chart or a cluster dump can hold more. The bound stays
        // (with the reader's node, event and byte budgets) against floods of
        // `---` separators.
        const MAX_DOCUMENTS: usize = 10_000;
        let mut options = serde_saphyr::Options::default();
        if let Some(budget) = options.budget.as_mut() {
            budget.max_documents = MAX_DOCUMENTS;
        }
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
            match e.without_snippet() {
                serde_saphyr::Error::Budget {
                    breach: serde_saphyr::budget::BudgetBreach::Documents { .. },
                    ..
                } => parse_err(format!(
                    "more than {MAX_DOCUMENTS} YAML documents in one input; split it into several files"
                )),
                _ => parse_err(e.to_string()),
            }
        })?
    };
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref map)
                if map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List")) =>
            {
                if let Some(Value::Array(items)) = map.get("items") {
                    out.extend(items.iter().cloned());
                }
            }
            Value::Object(_) => out.push(doc),
            other => {
                return Err(parse_err(format!(
                    "a document is not a Kubernetes object but {}",
                    match other {
                        Value::Array(_) => "a list",
                        Value::String(_) => "a string",
                        _ => "a scalar",
                    }
                )));
            }
        }
    }
    Ok(out)
}

/// The object as the API server would send it for a CREATE: the namespace
/// filled in for a namespaced object without one.
fn as_created(object: &Value, kind: &str, default_namespace: &str) -> (Value, String) {
    let namespace = match object["metadata"]["namespace"].as_str() {
        Some(ns) => ns.to_string(),
        None if kind == "Namespace" => String::new(),
        None => default_namespace.to_string(),
    };
    let mut object = object.clone();
    if !namespace.is_empty() && object["metadata"].is_object() {
        object["metadata"]["namespace"] = Value::from(namespace.as_str());
    }
    (object, namespace)
}

/// True when the shipped webhook configurations (manifests/base/webhooks.yaml)
/// send a CREATE of this object to the guard: their namespace and object
/// selectors and match conditions, written out by hand for the offline run
/// (change both together). Objects the API server would never send are not
/// judged offline either, so CI gives no denial a cluster would not.
pub fn sent_to_webhook(kind: Kind, object: &Value, namespace: &str, config: &Config) -> bool {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let in_longhorn = namespace == config.longhorn_namespace;
    match kind {
        Kind::Namespace => name == config.longhorn_namespace,
        Kind::Pod
        | Kind::DaemonSet
        | Kind::Deployment
        | Kind::StatefulSet
        | Kind::ReplicaSet
        | Kind::Job
        | Kind::CronJob
        | Kind::LonghornNode => in_longhorn,
        Kind::LonghornSetting => in_longhorn && SETTINGS_READ.contains(&name),
        Kind::ConfigMap => in_longhorn && name == DEFAULT_SETTING_CONFIGMAP,
        Kind::KubeNode => {
            // Any spelling longhorn-manager lower-cases to `config`.
            object["metadata"]["labels"][CREATE_DEFAULT_DISK_LABEL]
                .as_str()
                .is_some_and(crate::base::gojson::label_reads_annotation)
        }
    }
}

/// Evaluates one object as the API server would call the webhook for a
/// CREATE: the mutating webhook first, then validation of the mutated
/// object, through the same pipeline as the webhook.
pub fn check_object(object: &Value, config: &Config, default_namespace: &str) -> Outcome {
    let kind_name = object["kind"].as_str().unwrap_or("");
    let ignored = || Outcome::Ignored {
        what: format!(
            "{} {}",
            object["apiVersion"].as_str().unwrap_or("?"),
            object["kind"].as_str().unwrap_or("?")
        ),
    };
    let Some(kind) = pipeline::kind_of(object) else {
        return ignored();
    };
    let (mut object, namespace) = as_created(object, kind_name, default_namespace);
    // kube-apiserver validates the object before any validating webhook, in
    // every namespace: what it refuses, kubectl apply reports as its error.
    if let Ok(request) = pipeline::create_request(kind, &object, &namespace, CHECK_USER) {
        let generate_name = object["metadata"]["generateName"].as_str();
        if let Some(reason) = apiserver::refusal(&request, generate_name) {
            return Outcome::Refused { reason };
        }
    }
    if !sent_to_webhook(kind, &object, &namespace, config) {
        return ignored();
    }
    let unsendable = |e: String| Outcome::Judged {
        denial: Some(format!("the API server would not send this object: {e}")),
        warnings: vec![],
        added_labels: vec![],
    };
    let facts = pipeline::offline_facts("offline check, no cluster");
    let mutation = match pipeline::create_request(kind, &object, &namespace, CHECK_USER) {
        Ok(request) => pipeline::judge(Phase::Mutate, &request, config, &facts).verdict,
        Err(e) => return unsendable(e),
    };
    let mut added_labels = Vec::new();
    if !mutation.patch.is_empty() {
        let before = object.clone();
        if json_patch::patch(&mut object, &mutation.patch).is_ok() {
            added_labels = added(&before, &object);
        } else {
            object = before;
        }
    }
    let verdict = match pipeline::create_request(kind, &object, &namespace, CHECK_USER) {
        Ok(request) => pipeline::judge(Phase::Validate, &request, config, &facts).verdict,
        Err(e) => return unsendable(e),
    };
    let mut warnings = mutation.warnings;
    warnings.extend(verdict.warnings);
    Outcome::Judged {
        denial: verdict.denial,
        warnings,
        added_labels,
    }
}

fn added(before: &Value, after: &Value) -> Vec<(String, String)> {
    let Some(labels) = after["metadata"]["labels"].as_object() else {
        return Vec::new();
    };
    labels
        .iter()
        .filter(|(k, _)| before["metadata"]["labels"].get(k.as_str()).is_none())
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Checks every object of every input.
pub fn check(
    inputs: &[(String, String)],
    config: &Config,
    default_namespace: &str,
) -> Result<Vec<ObjectResult>, CheckError> {
    let mut results = Vec::new();
    for (file, text) in inputs {
        for (i, object) in parse_objects(file, text)?.iter().enumerate() {
            let name = object["metadata"]["name"].as_str().unwrap_or("(no name)");
            let name = match object["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            results.push(ObjectResult {
                file: file.clone(),
                index: i + 1,
                kind: object["kind"].as_str().unwrap_or("(no kind)").to_string(),
                name,
                outcome: check_object(object, config, default_namespace),
            });
        }
    }
    Ok(results)
}

/// Renders the results as pretty JSON (`check -o json`): one entry per object.
pub fn render_json(results: &[ObjectResult]) -> String {
    let mut out = serde_json::to_string_pretty(results).expect("check results serialise");
    out.push('\n');
    out
}

/// Renders the results for a terminal, with a summary line.
pub fn render(results: &[ObjectResult]) -> String {
    let mut out: String = results.iter().map(object_text).collect();
    out.push_str(&summary(results));
    out
}

/// What `check` prints for one object (nothing for one not sent to the webhook).
fn object_text(r: &ObjectResult) -> String {
    let at = format!("{} (object {}) {} {}", r.file, r.index, r.kind, r.name);
    let mut out = String::new();
    match &r.outcome {
        Outcome::Ignored { .. } => {}
        Outcome::Refused { reason } => {
            out.push_str(&format!("REFUSED {at}\n"));
            out.push_str("    by kube-apiserver, before any webhook; kubectl apply prints:\n");
            for line in reason.lines() {
                out.push_str(&format!("      {}\n", line.trim_end()));
            }
        }
        Outcome::Judged {
            denial,
            warnings,
            added_labels,
        } => {
            match denial {
                Some(message) => {
                    out.push_str(&format!("DENIED  {at}\n"));
                    for line in message.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
                None => out.push_str(&format!("allowed {at}\n")),
            }
            if !added_labels.is_empty() {
                let list: Vec<String> = added_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                out.push_str(&format!("    mutation adds labels: {}\n", list.join(", ")));
            }
            for w in warnings {
                out.push_str(&format!("    warning: {w}\n"));
            }
        }
    }
    out
}

/// The last line: how many objects were denied, allowed, refused and not sent.
fn summary(results: &[ObjectResult]) -> String {
    let (mut denied, mut allowed, mut refused, mut ignored) = (0, 0, 0, Vec::new());
    for r in results {
        match &r.outcome {
            Outcome::Ignored { what } => ignored.push(what.clone()),
            Outcome::Refused { .. } => refused += 1,
            Outcome::Judged {
                denial: Some(_), ..
            } => denied += 1,
            Outcome::Judged { denial: None, .. } => allowed += 1,
        }
    }
    ignored.sort();
    let mut kinds: Vec<String> = Vec::new();
    for k in &ignored {
        if !kinds.contains(k) {
            kinds.push(k.clone());
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|k| format!("{k} x{}", ignored.iter().filter(|i| *i == k).count()))
        .collect();
    let refused = if refused > 0 {
        format!(", {refused} refused by kube-apiserver")
    } else {
        String::new()
    };
    format!(
        "{} {}: {denied} denied, {allowed} allowed{refused}, {} not sent to the webhook{}\n",
        results.len(),
        if results.len() == 1 {
            "object"
        } else {
            "objects"
        },
        ignored.len(),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    )
}
