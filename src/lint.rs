//! `talos lint`: the Talos checks of [`talos::lint`] plus the webhook's own
//! rules on what a machine config puts on its Kubernetes node (Longhorn's
//! default disks, LTG-T050 and LTG-T051), through the same pipeline, so the
//! webhook and the lint cannot disagree.

use crate::base::longhorn::{CREATE_DEFAULT_DISK_LABEL, DEFAULT_DISKS_ANNOTATION};
use crate::config::Config;
use crate::pipeline;
use crate::policy::rules::{data_on_ephemeral, default_disks};
use crate::policy::{self, Kind, Phase};
use crate::talos::{self, Finding, LintOptions, MachineConfig, Severity, codes};

/// The name the lint gives the machine's node in messages.
const THIS_MACHINE: &str = "(this machine)";

/// The user the lint's request is made as.
const LINT_USER: &str = "talos lint";

/// Every finding of `talos lint` on a merged machine config.
pub fn lint(config: &MachineConfig, options: &LintOptions) -> Vec<Finding> {
    let mut out = talos::lint(config, options);
    default_disks(config, &mut out);
    out
}

/// The default disks Talos puts on the node (`machine.nodeLabels` and
/// `machine.nodeAnnotations`), judged by the webhook's own rule against the
/// data locations this config makes visible.
fn default_disks(config: &MachineConfig, out: &mut Vec<Finding>) {
    let Some(annotation) = config.node_annotations.get(DEFAULT_DISKS_ANNOTATION) else {
        return;
    };
    let label = config.node_labels.get(CREATE_DEFAULT_DISK_LABEL);
    // Talos 1.14 keeps node labels and annotations in a KubeNodeConfig document.
    let document = annotation.origin.kind == "KubeNodeConfig";
    let (annotations, labels) = if document {
        ("the KubeNodeConfig annotations list", "its labels")
    } else {
        ("machine.nodeAnnotations lists", "machine.nodeLabels")
    };
    if !label.is_some_and(|l| crate::base::gojson::label_reads_annotation(&l.value)) {
        let set = match label {
            Some(l) => format!("sets it to {:?}", l.value),
            None => "does not set it".to_string(),
        };
        out.push(talos::at(
            Severity::Warning,
            codes::DEFAULT_DISKS_UNUSED,
            annotation,
            format!(
                "{annotations} Longhorn's default disks ({DEFAULT_DISKS_ANNOTATION}), but Longhorn \
reads them only on nodes labelled {CREATE_DEFAULT_DISK_LABEL}=config, and {labels} {set}"
            ),
            Some(if document {
                format!("apiVersion: v1alpha1\nkind: KubeNodeConfig\nlabels:\n  {CREATE_DEFAULT_DISK_LABEL}: config\n")
            } else {
                format!("machine:\n  nodeLabels:\n    {CREATE_DEFAULT_DISK_LABEL}: config\n")
            }),
        ));
        return;
    }
    let cfg = Config {
        host: Some(talos::layout(config)),
        ..Config::default()
    };
    let node = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": THIS_MACHINE,
            "labels": {CREATE_DEFAULT_DISK_LABEL: "config"},
            "annotations": {DEFAULT_DISKS_ANNOTATION: annotation.value},
        },
    });
    let Ok(request) = pipeline::create_request(Kind::KubeNode, &node, "", LINT_USER) else {
        return;
    };
    let facts = pipeline::offline_facts("talos lint, no cluster");
    // One judgement: what fails (LTG-W012, an error) and what works but
    // lives on EPHEMERAL (LTG-W013, a warning), each as its denial text.
    let judgement = policy::judge(Phase::Validate, &request, &cfg, &facts);
    for (rule, severity, code) in [
        (&default_disks::RULE, Severity::Error, codes::DEFAULT_DISKS),
        (
            &data_on_ephemeral::RULE,
            Severity::Warning,
            codes::DEFAULT_DISKS_EPHEMERAL,
        ),
    ] {
        let text = judgement
            .of(rule)
            .and_then(|r| r.enforced_text(cfg.host.as_ref()));
        if let Some(text) = text {
            out.push(talos::at(severity, code, annotation, text, None));
        }
    }
}
