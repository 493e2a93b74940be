//! The rules by which Talos refuses a machine config, for the parts the
//! checks read (talos pkg/machinery v1.14.1: the strict decoder of
//! `configloader`, `v1alpha1_validation.go`, `block/user_volume_config.go`,
//! `block/volume_config.go`). A refused config is reported, with Talos's
//! reason, and what Talos would never apply is not read as if it were.

use super::model::{MachineConfig, Sourced, VolumeKind};
use super::patch::Doc;
use super::tree::{Node, Value};

/// Document kinds Talos accepts on control planes only (`ControlplaneOnlyConfig`).
const CONTROL_PLANE_ONLY: [&str; 2] = ["KubeAdmissionControlConfig", "KubeTalosAPIAccessConfig"];

/// The keys Talos's types have, for the parts of the config the checks read
/// (the `yaml` tags of talos pkg/machinery v1.14.1 `config/types`; the
/// oracle test compares this table with Talos's own types).
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "v1alpha1",
        &["version", "debug", "persist", "machine", "cluster"],
    ),
    (
        "v1alpha1.machine",
        &[
            "type",
            "token",
            "ca",
            "acceptedCAs",
            "certSANs",
            "controlPlane",
            "kubelet",
            "pods",
            "network",
            "disks",
            "install",
            "files",
            "env",
            "time",
            "sysctls",
            "sysfs",
            "registries",
            "systemDiskEncryption",
            "features",
            "udev",
            "logging",
            "kernel",
            "seccompProfiles",
            "baseRuntimeSpecOverrides",
            "nodeLabels",
            "nodeAnnotations",
            "nodeTaints",
        ],
    ),
    (
        "v1alpha1.machine.kubelet",
        &[
            "image",
            "clusterDNS",
            "extraArgs",
            "extraMounts",
            "extraConfig",
            "credentialProviderConfig",
            "defaultRuntimeSeccompProfileEnabled",
            "registerWithFQDN",
            "nodeIP",
            "skipNodeRegistration",
            "disableManifestsDirectory",
        ],
    ),
    (
        "v1alpha1.machine.kubelet.extraMounts[]",
        &[
            "destination",
            "type",
            "source",
            "options",
            "uidMappings",
            "gidMappings",
        ],
    ),
    (
        "v1alpha1.machine.install",
        &[
            "disk",
            "diskSelector",
            "extraKernelArgs",
            "image",
            "extensions",
            "bootloader",
            "wipe",
            "legacyBIOSSupport",
            "grubUseUKICmdline",
        ],
    ),
    ("v1alpha1.machine.kernel", &["modules"]),
    ("v1alpha1.machine.kernel.modules[]", &["name", "parameters"]),
    (
        "UserVolumeConfig",
        &[
            "apiVersion",
            "kind",
            "name",
            "volumeType",
            "provisioning",
            "filesystem",
            "encryption",
            "mount",
            "trim",
            "scrub",
        ],
    ),
    (
        "KubeNodeConfig",
        &[
            "apiVersion",
            "kind",
            "skipNodeRegistration",
            "registerWithFQDN",
            "nodeIP",
            "labels",
            "annotations",
            "taints",
        ],
    ),
    (
        "SecurityProfileConfig",
        &["apiVersion", "kind", "workloadIsolation"],
    ),
    (
        "VolumeConfig",
        &[
            "apiVersion",
            "kind",
            "name",
            "provisioning",
            "filesystem",
            "encryption",
            "mount",
            "trim",
            "scrub",
        ],
    ),
];

fn known(path: &str) -> Option<&'static [&'static str]> {
    KNOWN_KEYS.iter().find(|(p, _)| *p == path).map(|(_, k)| *k)
}

/// Every key under `node` (at schema path `path`) that the Talos type does not have.
fn unknown_keys<'a>(node: &'a Node, path: &str, out: &mut Vec<(String, &'a Node)>) {
    match &node.value {
        Value::Map(entries) => {
            let keys = known(path);
            for (k, v) in entries {
                let child = format!("{path}.{k}");
                if let Some(keys) = keys
                    && !keys.contains(&k.as_str())
                {
                    out.push((child.clone(), v));
                    continue;
                }
                unknown_keys(v, &child, out);
            }
        }
        Value::Seq(items) => {
            for item in items {
                unknown_keys(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Adds the refusals of a merged config and drops what Talos would refuse.
pub(crate) fn validate(config: &mut MachineConfig, merged: &[Doc]) {
    let refuse = |config: &mut MachineConfig, node: &Node, reason: String| {
        let origin = config.documents[node.doc].clone();
        config.refusals.push(Sourced {
            value: reason,
            origin,
            line: node.line,
        });
    };
    for doc in merged {
        let mut unknown = Vec::new();
        unknown_keys(&doc.node, &doc.kind, &mut unknown);
        for (path, node) in unknown {
            let shown = path
                .strip_prefix("v1alpha1.")
                .unwrap_or(&path)
                .replace("[]", "[*]");
            refuse(
                config,
                node,
                format!(
                    "unknown keys found during decoding: {shown} (no such field in Talos's {})",
                    doc.kind
                ),
            );
        }
    }
    // The V1Alpha1ConflictValidate rules of the documents that replace
    // v1alpha1 fields (k8s/admission_control.go, k8s/node.go,
    // k8s/kubelet.go, runtime/unattended_install.go). Talos checks the config
    // as it reads it back from YAML, where empty maps and lists are gone.
    let legacy = merged.iter().find(|d| d.kind == super::patch::LEGACY);
    let has_doc = |kind: &str| merged.iter().any(|d| d.kind == kind);
    let filled = |n: &&Node| match &n.value {
        Value::Map(e) => !e.is_empty(),
        Value::Seq(i) => !i.is_empty(),
        Value::Null => false,
        Value::Scalar(..) => true,
    };
    if let Some(legacy) = legacy {
        let at = |path: &[&str]| legacy.node.at(path);
        let mut conflicts: Vec<(&Node, &str)> = Vec::new();
        if has_doc("KubeAdmissionControlConfig")
            && let Some(n) = at(&["cluster", "apiServer", "admissionControl"]).filter(filled)
        {
            conflicts.push((
                n,
                "admission control plugin config is already set in v1alpha1 config",
            ));
        }
        if has_doc("KubeNodeConfig") {
            for (key, reason) in [
                (
                    "nodeLabels",
                    ".machine.nodeLabels is already set in v1alpha1 config",
                ),
                (
                    "nodeAnnotations",
                    ".machine.nodeAnnotations is already set in v1alpha1 config",
                ),
                (
                    "nodeTaints",
                    ".machine.nodeTaints is already set in v1alpha1 config",
                ),
            ] {
                if let Some(n) = at(&["machine", key]).filter(filled) {
                    conflicts.push((n, reason));
                }
            }
        }
        // With extraMounts in it, LTG-T015 says this with the fix for Longhorn.
        if has_doc("KubeletConfig")
            && config.extra_mounts.is_empty()
            && let Some(n) = at(&["machine", "kubelet"]).filter(|n| !n.is_null())
        {
            conflicts.push((
                n,
                "kubelet config is already set in v1alpha1 config (.machine.kubelet)",
            ));
        }
        if has_doc("UnattendedInstallConfig")
            && let Some(n) = at(&["machine", "install"]).filter(|n| !n.is_null())
        {
            conflicts.push((
                n,
                "UnattendedInstallConfig config is incompatible with v1alpha1 config (.machine.install)",
            ));
        }
        // container/validate.go: control-plane-only kinds on another machine type.
        // Only when the type is written: a lone patch says nothing of it.
        let not_control_plane = at(&["machine", "type"])
            .and_then(Node::text)
            .is_some_and(|t| !matches!(t, "controlplane" | "init"));
        // The kinds the lint reads that implement ControlplaneOnlyConfig
        // (k8s/admission_control.go, k8s/talos_api_access.go); Talos names
        // them sorted, once each.
        let mut control_plane_only: Vec<&Doc> = merged
            .iter()
            .filter(|d| CONTROL_PLANE_ONLY.contains(&d.kind.as_str()))
            .collect();
        control_plane_only.sort_by(|a, b| a.kind.cmp(&b.kind));
        control_plane_only.dedup_by(|a, b| a.kind == b.kind);
        let control_plane_message;
        if not_control_plane && let Some(first) = control_plane_only.first() {
            let kinds: Vec<&str> = control_plane_only.iter().map(|d| d.kind.as_str()).collect();
            control_plane_message = format!(
                "the following document kinds are only allowed on control plane machines: [{}]",
                kinds.join(" ")
            );
            conflicts.push((&first.node, control_plane_message.as_str()));
        }
        if has_doc("KubeTalosAPIAccessConfig")
            && let Some(n) = at(&["machine", "features", "kubernetesTalosAPIAccess"]).filter(filled)
        {
            conflicts.push((
                n,
                ".machine.features.kubernetesTalosAPIAccess is already set in v1alpha1 config",
            ));
        }
        for (node, reason) in conflicts {
            refuse(config, node, reason.to_string());
        }
    }
    // v1alpha1_validation.go: "install.extraKernelArgs and
    // install.grubUseUKICmdline can't be used together"; the arguments are
    // then never on the kernel command line.
    if config.grub_uki_cmdline.is_some()
        && let Some(first) = config.install_kernel_args.first()
    {
        config.refusals.push(Sourced {
            value: "install.extraKernelArgs and install.grubUseUKICmdline can't be used together (with grubUseUKICmdline the kernel command line is the UKI's: set kernel arguments in the Image Factory schematic)".to_string(),
            origin: first.origin.clone(),
            line: first.line,
        });
        config.install_kernel_args.clear();
    }
    // runtime/unattended_install.go. A patch of the same document that does
    // not repeat the selector clears it (a CEL expression is replaced on
    // every merge), so this is what a patch of only the installer image hits.
    for doc in merged
        .iter()
        .filter(|d| d.kind == "UnattendedInstallConfig")
    {
        let selector = doc
            .node
            .at(&["provisioning", "diskSelector", "match"])
            .and_then(Node::string);
        if selector.is_none() {
            let origin = config.documents[doc.last].clone();
            let line = origin.line;
            config.refusals.push(Sourced {
                value: "UnattendedInstallConfig: provisioning.diskSelector.match is required (Talos replaces the disk selector on every merge of this document: a patch must repeat it)".to_string(),
                origin,
                line,
            });
        }
    }
    // block/user_volume_config.go and volume_config.go (ProvisioningSpec.Validate).
    let mut refused_volumes = Vec::new();
    for doc in merged.iter().filter(|d| d.kind == "UserVolumeConfig") {
        let name = doc.name.clone().unwrap_or_default();
        let n = &doc.node;
        let provisioning = n.get("provisioning");
        let selector = provisioning
            .and_then(|p| p.at(&["diskSelector", "match"]))
            .and_then(Node::string);
        let sized = ["minSize", "maxSize"].iter().any(|k| {
            provisioning
                .and_then(|p| p.get(k))
                .and_then(Node::string)
                .is_some()
        });
        let grow = provisioning
            .and_then(|p| p.get("grow"))
            .is_some_and(|g| !g.is_null());
        let mut reasons = Vec::new();
        match n
            .get("volumeType")
            .and_then(Node::string)
            .unwrap_or("partition")
        {
            "directory" => {
                if selector.is_some() || sized || grow {
                    reasons.push("provisioning spec is invalid for volumeType directory");
                }
            }
            "disk" => {
                if selector.is_none() {
                    reasons.push("disk selector is required");
                }
                if sized || grow {
                    reasons.push("min size, max size and grow are not supported");
                }
            }
            "partition" => {
                if selector.is_none() {
                    reasons.push("disk selector is required");
                }
                if !sized {
                    reasons.push("min size or max size is required");
                }
            }
            _ => reasons.push("unsupported volume type"),
        }
        if !reasons.is_empty() {
            let at = n.get("provisioning").unwrap_or(n);
            let origin = config.documents[doc.last].clone();
            let line = if std::ptr::eq(at, n) {
                origin.line
            } else {
                at.line
            };
            config.refusals.push(Sourced {
                value: format!("UserVolumeConfig/{name}: {}", reasons.join("; ")),
                origin,
                line,
            });
            refused_volumes.push(name);
        }
    }
    config.volumes.retain(|v| {
        !(v.value.kind == VolumeKind::UserVolumeConfig && refused_volumes.contains(&v.value.name))
    });
}
