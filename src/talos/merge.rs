//! Reading YAML streams into documents and folding them, file after file,
//! into one [`MachineConfig`] with Talos's patch merge ([`super::patch`]),
//! then reading the fields the checks use off the merged documents.

use super::model::{
    DocumentRef, ExtraMount, LEGACY_KIND, MachineConfig, PodSecurity, SCHEMATIC_KIND, Sourced,
    TalosApiAccess, Volume, VolumeKind,
};
use super::patch::{self, Doc};
use super::tree::{self, Node, ScalarType, Value};
use super::{FileRole, TalosError};

/// Kinds Talos matches by `kind` and `name`; the lint reads these.
const NAMED_KINDS: [&str; 7] = [
    "UserVolumeConfig",
    "VolumeConfig",
    "ExistingVolumeConfig",
    "ExternalVolumeConfig",
    "RawVolumeConfig",
    "KernelModuleConfig",
    "KubeAdmissionControlConfig",
];

/// The kind recorded for a JSON6902 patch (a list of operations).
const JSON6902_KIND: &str = "JSON6902";

/// The kind recorded for a mapping that is no Talos document.
const UNKNOWN_KIND: &str = "unknown";

/// Parses every input and merges them in order; see [`MachineConfig`] for the rules.
pub(crate) fn load(inputs: &[(String, String)]) -> Result<MachineConfig, TalosError> {
    let mut config = MachineConfig::default();
    let mut merged: Vec<Doc> = Vec::new();
    for (file, text) in inputs {
        config.inputs.push(file.clone());
        // The syntax check (and its error messages) of the YAML reader the
        // rest of the project uses; the tree is then built from the same text.
        serde_saphyr::from_multiple::<serde::de::IgnoredAny>(text)
            .map_err(|e| parse_error(file, &e))?;
        let first = config.documents.len();
        let nodes = tree::parse_stream(text, first).map_err(|e| TalosError::Parse {
            file: file.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let json6902 = patch::is_json6902(&nodes);
        if !json6902 && let Some(odd) = nodes.iter().find(|n| !matches!(n.value, Value::Map(_))) {
            return Err(TalosError::Parse {
                file: file.clone(),
                line: Some(odd.line),
                column: None,
                message: "expected a YAML document (a mapping of Talos fields), or a JSON6902 patch (a list of operations with op and path)".to_string(),
            });
        }
        if json6902 {
            let node = &nodes[0];
            config.documents.push(DocumentRef {
                file: file.clone(),
                index: 1,
                kind: JSON6902_KIND.to_string(),
                name: None,
                line: node.line,
                foreign: false,
            });
            if let Err(reason) = patch::apply_json6902(&mut merged, node) {
                config.refusals.push(refusal_at(&config, node, reason));
            }
            continue;
        }
        let mut talos = Vec::new();
        for (i, node) in nodes.into_iter().enumerate() {
            let origin = document_ref(file, i + 1, &node)?;
            config.documents.push(origin.clone());
            if origin.foreign {
                continue;
            }
            match origin.kind.as_str() {
                SCHEMATIC_KIND => read_schematic(&mut config, &node),
                kind => {
                    if kind == LEGACY_KIND {
                        config.legacy = Some(origin.clone());
                    }
                    talos.push(node);
                }
            }
        }
        if talos.is_empty() {
            continue;
        }
        if let Some(refusal) = merge_keys(&talos) {
            config
                .refusals
                .push(refusal_at(&config, &talos[0], refusal));
            continue;
        }
        let before = merged.clone();
        if let Err(reason) = patch::apply_strategic(&mut merged, talos.clone()) {
            // Talos stops at a patch it cannot apply; the lint reads on
            // without it and says so.
            merged = before;
            config.refusals.push(refusal_at(&config, &talos[0], reason));
        }
    }
    read_merged(&mut config, &merged);
    super::validate::validate(&mut config, &merged);
    Ok(config)
}

/// A YAML merge key (`<<`) anywhere in a patch: Talos's YAML reader takes
/// it as a key of its own, which no Talos type has.
fn merge_keys(docs: &[Node]) -> Option<String> {
    fn find(node: &Node) -> bool {
        match &node.value {
            Value::Map(entries) => entries.iter().any(|(k, v)| k == "<<" || find(v)),
            Value::Seq(items) => items.iter().any(find),
            _ => false,
        }
    }
    docs.iter().any(find).then(|| {
        "unknown keys found during decoding: '<<' (a YAML merge key: Talos does not expand merge keys, write the keys out)".to_string()
    })
}

fn refusal_at(config: &MachineConfig, node: &Node, reason: String) -> Sourced<String> {
    Sourced {
        value: reason,
        origin: config.documents[node.doc].clone(),
        line: node.line,
    }
}

/// One document's top-level keys, with the text of those that are strings:
/// enough to say what a file that is not Talos holds.
type Probe = std::collections::BTreeMap<String, ProbeValue>;

/// A value read only for its text; lists, maps and other scalars read as `None`.
struct ProbeValue(Option<String>);

impl<'de> serde::Deserialize<'de> for ProbeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProbeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<ProbeValue, E> {
                Ok(ProbeValue(Some(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_unit<E>(self) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_none<E>(self) -> Result<ProbeValue, E> {
                Ok(ProbeValue(None))
            }
            fn visit_some<D2: serde::Deserializer<'de>>(
                self,
                d: D2,
            ) -> Result<ProbeValue, D2::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProbeValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ProbeValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbeValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ProbeValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

fn probe_text<'a>(probe: &'a Probe, key: &str) -> Option<&'a str> {
    probe.get(key).and_then(|v| v.0.as_deref())
}

/// See [`super::classify`].
pub(crate) fn classify(file: &str, text: &str) -> Result<FileRole, TalosError> {
    let config = load(&[(file.to_string(), text.to_string())])?;
    // The documents already parsed as Talos ones; read once more for their keys.
    let probes: Vec<Probe> = serde_saphyr::from_multiple::<Option<Probe>>(text)
        .map(|docs| docs.into_iter().flatten().collect())
        .unwrap_or_default();
    let not_talos = |found: String| TalosError::NotTalos {
        file: file.to_string(),
        found,
    };
    if config.documents.is_empty() {
        return Err(not_talos("the file is empty".to_string()));
    }
    if config.documents.iter().all(|d| d.foreign) {
        let mut found = match probes.first() {
            Some(p) => describe_foreign(p),
            None => "found YAML that is no Talos document".to_string(),
        };
        let more = config.documents.len() - 1;
        if more > 0 {
            let s = if more == 1 { "" } else { "s" };
            found.push_str(&format!(
                " (and {more} more document{s}, none of them Talos)"
            ));
        }
        return Err(not_talos(found));
    }
    let talos = config.documents.iter().filter(|d| !d.foreign);
    if talos.clone().all(|d| d.kind == SCHEMATIC_KIND) {
        return Ok(FileRole::Schematic);
    }
    let base = probes
        .iter()
        .any(|p| probe_text(p, "version") == Some("v1alpha1"));
    Ok(if base {
        FileRole::Machine
    } else {
        FileRole::Patch
    })
}

/// What a document that is no Talos one looks like, for [`TalosError::NotTalos`].
fn describe_foreign(probe: &Probe) -> String {
    if let Some(kind) = probe_text(probe, "kind") {
        return match probe_text(probe, "apiVersion") {
            Some(api) => format!("found a Kubernetes {kind} ({api})"),
            None => format!("found a {kind} without apiVersion"),
        };
    }
    if probe.contains_key("context") || probe.contains_key("contexts") {
        return "found a talosconfig (talosctl's client configuration, with `context`/`contexts`); \
the machine configs are the files `talosctl gen config` writes next to it (controlplane.yaml, worker.yaml)"
            .to_string();
    }
    const SHOWN: usize = 5;
    let mut keys: Vec<&str> = probe.keys().map(String::as_str).take(SHOWN).collect();
    if probe.len() > SHOWN {
        keys.push("...");
    }
    format!(
        "found a YAML mapping with none of the keys of a Talos document (version, machine, cluster, \
apiVersion and kind, customization); its keys: {}",
        keys.join(", ")
    )
}

/// True when the parser stopped at its document budget.
fn is_document_budget(mut e: &serde_saphyr::Error) -> bool {
    use serde_saphyr::budget::BudgetBreach;
    loop {
        match e {
            serde_saphyr::Error::WithSnippet { error, .. }
            | serde_saphyr::Error::AliasError { error, .. } => e = error,
            serde_saphyr::Error::Budget {
                breach: BudgetBreach::Documents { .. },
                ..
            } => return true,
            _ => return false,
        }
    }
}

fn parse_error(file: &str, e: &serde_saphyr::Error) -> TalosError {
    if is_document_budget(e) {
        return TalosError::TooManyDocuments {
            file: file.to_string(),
            limit: serde_saphyr::Budget::default().max_documents,
        };
    }
    let y = crate::base::yaml::YamlError::from(e);
    TalosError::Parse {
        file: file.to_string(),
        line: y.line,
        column: y.column,
        message: y.message,
    }
}

fn document_ref(file: &str, index: usize, node: &Node) -> Result<DocumentRef, TalosError> {
    let field = |k: &str| node.get(k).and_then(Node::text).map(str::to_string);
    let line = node.line;
    let is_map = matches!(node.value, Value::Map(_));
    let kind = match field("kind") {
        Some(kind) => kind,
        None if !is_map => UNKNOWN_KIND.to_string(),
        None if node.get("customization").is_some() => SCHEMATIC_KIND.to_string(),
        None if ["version", "machine", "cluster", "debug", "persist"]
            .iter()
            .any(|k| node.get(k).is_some()) =>
        {
            LEGACY_KIND.to_string()
        }
        None => UNKNOWN_KIND.to_string(),
    };
    // A `kind` under another apiVersion (a Kubernetes manifest, say) is not
    // a Talos document: listed, never read.
    let foreign = kind == UNKNOWN_KIND
        || (node.get("kind").is_some() && field("apiVersion").is_some_and(|v| v != "v1alpha1"));
    let name = field("name");
    if !foreign && NAMED_KINDS.contains(&kind.as_str()) && name.is_none() {
        return Err(TalosError::MissingName {
            file: file.to_string(),
            index,
            line,
            kind,
        });
    }
    let name = if NAMED_KINDS.contains(&kind.as_str()) {
        name
    } else {
        None
    };
    Ok(DocumentRef {
        file: file.to_string(),
        index,
        kind,
        name,
        line,
        foreign,
    })
}

fn sourced<T>(config: &MachineConfig, value: T, node: &Node) -> Sourced<T> {
    let origin = config.documents[node.doc].clone();
    let line = if node.line == 0 {
        origin.line
    } else {
        node.line
    };
    Sourced {
        value,
        origin,
        line,
    }
}

/// The non-empty entries of a list of strings, each with its line.
fn strings(config: &MachineConfig, list: Option<&Node>) -> Vec<Sourced<String>> {
    list.map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.string().map(|v| sourced(config, v.to_string(), a)))
        .collect()
}

fn texts(config: &MachineConfig, list: Option<&Node>) -> Vec<String> {
    strings(config, list).into_iter().map(|s| s.value).collect()
}

/// An Image Factory schematic: not part of the machine config, so not
/// merged; the last one given is the image's.
fn read_schematic(config: &mut MachineConfig, node: &Node) {
    let customization = node.get("customization");
    let extensions = customization
        .and_then(|c| c.at(&["systemExtensions", "officialExtensions"]))
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.string().map(str::to_string))
        .collect();
    config.schematic_kernel_args =
        strings(config, customization.and_then(|c| c.get("extraKernelArgs")));
    let origin = config.documents[node.doc].clone();
    let line = origin.line;
    config.schematic = Some(Sourced {
        value: extensions,
        origin,
        line,
    });
}

/// A `map[string]string` with the position of each value (null reads as "").
fn string_map(
    config: &MachineConfig,
    map: Option<&Node>,
    into: &mut std::collections::BTreeMap<String, Sourced<String>>,
) {
    for (k, v) in map.map(Node::entries).unwrap_or_default() {
        let text = v.text().unwrap_or_default().to_string();
        into.insert(k.clone(), sourced(config, text, v));
    }
}

/// The PodSecurity configuration of an admission plugin `configuration`.
fn pod_security(configuration: Option<&Node>) -> PodSecurity {
    PodSecurity {
        enforce: configuration
            .and_then(|c| c.at(&["defaults", "enforce"]))
            .and_then(Node::string)
            .map(str::to_string),
        exempt_namespaces: configuration
            .and_then(|c| c.at(&["exemptions", "namespaces"]))
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.string().map(str::to_string))
            .collect(),
    }
}

/// `value` placed at the document's own place: the last input document merged into it.
fn at_document<T>(config: &MachineConfig, doc: &Doc, value: T) -> Sourced<T> {
    let origin = config.documents[doc.last].clone();
    let line = origin.line;
    Sourced {
        value,
        origin,
        line,
    }
}

/// Whether a system volume's `provisioning` asks for a partition of its own
/// (talos `block.ProvisioningRequested`, pkg/machinery v1.14: a disk
/// selector, `grow`, `minSize` or `maxSize` is present).
fn provisioning_requested(provisioning: Option<&Node>) -> bool {
    let Some(p) = provisioning else {
        return false;
    };
    let set = |path: &[&str]| {
        p.at(path)
            .is_some_and(|v| !v.is_null() && v.text() != Some(""))
    };
    set(&["diskSelector", "match"]) || set(&["grow"]) || set(&["minSize"]) || set(&["maxSize"])
}

/// Reads the fields the checks use off the merged documents.
fn read_merged(config: &mut MachineConfig, merged: &[Doc]) {
    for doc in merged {
        let n = &doc.node;
        match doc.kind.as_str() {
            patch::LEGACY => read_legacy(config, n),
            "UnattendedInstallConfig" => {
                if let Some(image) = n
                    .at(&["installer", "image"])
                    .filter(|i| i.string().is_some())
                {
                    let v = image.string().unwrap_or_default().to_string();
                    config.install_image = Some(sourced(config, v, image));
                }
            }
            "KubeNodeConfig" => {
                let (mut labels, mut annotations) = Default::default();
                string_map(config, n.get("labels"), &mut labels);
                string_map(config, n.get("annotations"), &mut annotations);
                config.node_labels.extend(labels);
                config.node_annotations.extend(annotations);
            }
            "SysctlConfig" => {
                let mut params = std::mem::take(&mut config.sysctl_documents);
                string_map(config, n.get("params"), &mut params);
                config.sysctl_documents = params;
            }
            "ExtensionServiceConfig" if doc.name.as_deref() == Some("multipathd") => {
                if let Some(file) = n
                    .get("configFiles")
                    .map(Node::items)
                    .unwrap_or_default()
                    .iter()
                    .find(|f| {
                        f.get("mountPath").and_then(Node::text) == Some("/etc/multipath.conf")
                    })
                {
                    let content = file.get("content").and_then(Node::text).unwrap_or_default();
                    config.multipath_conf = Some(sourced(config, content.to_string(), file));
                }
            }
            "KubeTalosAPIAccessConfig" => {
                let access = TalosApiAccess {
                    enabled: true,
                    allowed_roles: texts(config, n.get("allowedRoles")),
                    allowed_namespaces: texts(config, n.get("allowedKubernetesNamespaces")),
                };
                config.talos_api_access_document = Some(at_document(config, doc, access));
            }
            "KubeletConfig" => {
                config.kubelet_config = Some(at_document(config, doc, ()).origin);
            }
            "KubeAdmissionControlConfig" if doc.name.as_deref() == Some("PodSecurity") => {
                let ps = pod_security(n.get("configuration"));
                config.pod_security_document =
                    Some(match n.at(&["configuration", "defaults", "enforce"]) {
                        Some(enforce) => sourced(config, ps, enforce),
                        None => at_document(config, doc, ps),
                    });
            }
            "KernelModuleConfig" => {
                config.kernel_module_documents.push(at_document(
                    config,
                    doc,
                    doc.name.clone().unwrap_or_default(),
                ));
            }
            "SecurityProfileConfig" => {
                config.workload_isolation = Some(match n.get("workloadIsolation") {
                    Some(w) if !w.is_null() => {
                        sourced(config, w.scalar_type() == ScalarType::Bool(true), w)
                    }
                    _ => at_document(config, doc, false),
                });
            }
            "VolumeConfig"
                if doc.name.as_deref().is_some_and(|name| {
                    crate::host::SYSTEM_VOLUMES
                        .iter()
                        .any(|(id, _)| *id == name)
                }) && provisioning_requested(n.get("provisioning")) =>
            {
                config.system_volumes.push(at_document(
                    config,
                    doc,
                    doc.name.clone().unwrap_or_default(),
                ));
            }
            "RawVolumeConfig" => {
                config.raw_volumes.push(at_document(
                    config,
                    doc,
                    doc.name.clone().unwrap_or_default(),
                ));
            }
            kind => {
                if let Some(kind) = VolumeKind::from_kind(kind) {
                    let volume = Volume {
                        kind,
                        name: doc.name.clone().unwrap_or_default(),
                        volume_type: n
                            .get("volumeType")
                            .and_then(Node::string)
                            .map(str::to_string),
                    };
                    config.volumes.push(at_document(config, doc, volume));
                }
            }
        }
    }
}

fn read_legacy(config: &mut MachineConfig, doc: &Node) {
    let machine = doc.get("machine");
    let install = machine.and_then(|m| m.get("install"));
    if let Some(image) = install
        .and_then(|i| i.get("image"))
        .filter(|i| i.string().is_some())
    {
        let v = image.string().unwrap_or_default().to_string();
        config.install_image = Some(sourced(config, v, image));
    }
    config.install_kernel_args = strings(config, install.and_then(|i| i.get("extraKernelArgs")));
    config.machine_type = machine
        .and_then(|m| m.get("type"))
        .filter(|t| t.string().is_some())
        .map(|t| sourced(config, t.string().unwrap_or_default().to_string(), t));
    config.talos_api_access = machine
        .and_then(|m| m.at(&["features", "kubernetesTalosAPIAccess"]))
        .filter(|a| !a.is_null())
        .map(|a| {
            let access = TalosApiAccess {
                enabled: a.get("enabled").and_then(Node::text) == Some("true"),
                allowed_roles: texts(config, a.get("allowedRoles")),
                allowed_namespaces: texts(config, a.get("allowedKubernetesNamespaces")),
            };
            sourced(config, access, a)
        });
    config.grub_uki_cmdline = install
        .and_then(|i| i.get("grubUseUKICmdline"))
        .filter(|g| g.text() == Some("true"))
        .map(|g| sourced(config, (), g));
    for ext in install
        .and_then(|i| i.get("extensions"))
        .map(Node::items)
        .unwrap_or_default()
    {
        if let Some(image) = ext.get("image").and_then(Node::string) {
            let s = sourced(config, image.to_string(), ext);
            config.install_extensions.push(s);
        }
    }
    for m in machine
        .and_then(|m| m.at(&["kubelet", "extraMounts"]))
        .map(Node::items)
        .unwrap_or_default()
    {
        let field = |k: &str| m.get(k).and_then(Node::string).map(str::to_string);
        let mount = ExtraMount {
            destination: field("destination"),
            source: field("source"),
            mount_type: field("type"),
            options: m
                .get("options")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|o| o.string().map(str::to_string))
                .collect(),
        };
        let s = sourced(config, mount, m);
        config.extra_mounts.push(s);
    }
    let mut sysctls = std::mem::take(&mut config.sysctls);
    string_map(config, machine.and_then(|m| m.get("sysctls")), &mut sysctls);
    config.sysctls = sysctls;
    let (mut labels, mut annotations) = Default::default();
    string_map(
        config,
        machine.and_then(|m| m.get("nodeLabels")),
        &mut labels,
    );
    string_map(
        config,
        machine.and_then(|m| m.get("nodeAnnotations")),
        &mut annotations,
    );
    // KubeNodeConfig (Talos 1.14) is read after and wins.
    labels.extend(std::mem::take(&mut config.node_labels));
    annotations.extend(std::mem::take(&mut config.node_annotations));
    config.node_labels = labels;
    config.node_annotations = annotations;
    for m in machine
        .and_then(|m| m.at(&["kernel", "modules"]))
        .map(Node::items)
        .unwrap_or_default()
    {
        if let Some(name) = m.get("name").and_then(Node::string) {
            let s = sourced(config, name.to_string(), m);
            config.kernel_modules.push(s);
        }
    }
    for plugin in doc
        .at(&["cluster", "apiServer", "admissionControl"])
        .map(Node::items)
        .unwrap_or_default()
    {
        if plugin.get("name").and_then(Node::text) == Some("PodSecurity") {
            let configuration = plugin.get("configuration");
            let ps = pod_security(configuration);
            // The enforce level decides the finding: point at it when set.
            let at = configuration
                .and_then(|c| c.at(&["defaults", "enforce"]))
                .unwrap_or(plugin);
            config.pod_security = Some(sourced(config, ps, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn later_scalar_wins_and_lists_append() {
        let base = "version: v1alpha1\nmachine:\n  install:\n    image: ghcr.io/siderolabs/installer:v1.7.6\n  kubelet:\n    extraMounts:\n      - {destination: /a, source: /a, type: bind, options: [bind, rshared, rw]}\n  kernel:\n    modules: [{name: nvme_tcp}]\n  sysctls:\n    vm.nr_hugepages: \"512\"\n    net.core.somaxconn: \"1024\"\n";
        let patch = "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:v1.9.0\n  kubelet:\n    extraMounts:\n      - {destination: /b, source: /b, type: bind, options: [bind, rshared, rw]}\n  kernel:\n    modules: [{name: vfio_pci}]\n  sysctls:\n    vm.nr_hugepages: 1024\n";
        let c = load(&inputs(&[("base.yaml", base), ("patch.yaml", patch)])).unwrap();
        let image = c.install_image.as_ref().unwrap();
        assert_eq!(image.value, "ghcr.io/siderolabs/installer:v1.9.0");
        assert_eq!(image.origin.file, "patch.yaml");
        assert_eq!(image.line, 3);
        let dests: Vec<_> = c
            .extra_mounts
            .iter()
            .map(|m| m.value.destination.as_deref().unwrap())
            .collect();
        assert_eq!(dests, ["/a", "/b"]);
        let modules: Vec<_> = c.kernel_modules.iter().map(|m| m.value.as_str()).collect();
        assert_eq!(modules, ["nvme_tcp", "vfio_pci"]);
        assert_eq!(c.sysctls["vm.nr_hugepages"].value, "1024");
        assert_eq!(c.sysctls["vm.nr_hugepages"].origin.file, "patch.yaml");
        assert_eq!(c.sysctls["net.core.somaxconn"].origin.file, "base.yaml");
        assert_eq!(c.legacy.as_ref().unwrap().file, "patch.yaml");
    }

    #[test]
    fn merge_order_is_input_order() {
        let a = "machine:\n  install:\n    image: installer:v1.7.0\n";
        let b = "machine:\n  install:\n    image: installer:v1.11.0\n";
        let ab = load(&inputs(&[("a", a), ("b", b)])).unwrap();
        let ba = load(&inputs(&[("b", b), ("a", a)])).unwrap();
        assert_eq!(ab.install_image.unwrap().value, "installer:v1.11.0");
        assert_eq!(ba.install_image.unwrap().value, "installer:v1.7.0");
    }

    #[test]
    fn documents_match_by_kind_and_name() {
        let base = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: directory\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: other\nvolumeType: directory\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"256\"\n  a.b: \"1\"\n";
        let patch = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: partition\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 10GiB\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"2048\"\n";
        let c = load(&inputs(&[("base", base), ("patch", patch)])).unwrap();
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.volumes[0].value.name, "longhorn");
        assert_eq!(c.volumes[0].value.volume_type.as_deref(), Some("partition"));
        assert_eq!(c.volumes[0].origin.file, "patch");
        assert_eq!(c.volumes[1].value.name, "other");
        assert_eq!(c.sysctl_documents["vm.nr_hugepages"].value, "2048");
        assert_eq!(c.sysctl_documents["a.b"].value, "1");
        assert!(c.refusals.is_empty(), "{:?}", c.refusals);
        // Without a disk selector and a size Talos refuses a partition volume,
        // and it is no data location.
        let bare = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n";
        let c = load(&inputs(&[("bare", bare)])).unwrap();
        assert!(c.volumes.is_empty());
        assert_eq!(
            c.refusals[0].value,
            "UserVolumeConfig/longhorn: disk selector is required; min size or max size is required"
        );
    }

    #[test]
    fn a_field_left_out_by_the_patch_keeps_the_base_value() {
        let base =
            "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: directory\n";
        let patch = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n";
        let c = load(&inputs(&[("base", base), ("patch", patch)])).unwrap();
        assert_eq!(c.volumes[0].value.volume_type.as_deref(), Some("directory"));
    }

    #[test]
    fn sysctl_document_wins_over_machine_sysctls_whatever_the_order() {
        let doc =
            "apiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"2048\"\n";
        let legacy = "machine:\n  sysctls:\n    vm.nr_hugepages: \"64\"\n";
        for order in [[doc, legacy], [legacy, doc]] {
            let c = load(&inputs(&[("1", order[0]), ("2", order[1])])).unwrap();
            assert_eq!(c.sysctl("vm.nr_hugepages").unwrap().value, "2048");
        }
    }

    #[test]
    fn yaml_1_1_words_stay_text() {
        let text = "machine:\n  sysctls:\n    a: on\n    b: y\n    c: 0x10\n  kernel:\n    modules: [{name: no}]\n";
        let c = load(&inputs(&[("f", text)])).unwrap();
        assert_eq!(c.sysctls["a"].value, "on");
        assert_eq!(c.sysctls["b"].value, "y");
        assert_eq!(c.sysctls["c"].value, "0x10");
        assert_eq!(c.kernel_modules[0].value, "no");
    }

    #[test]
    fn unknown_kinds_and_fields_are_tolerated() {
        let text = "version: v1alpha1\ndebug: false\npersist: true\nmachine:\n  type: worker\n  token: abc\n  network: {hostname: w1, interfaces: [{interface: eth0, dhcp: true}]}\n  kubelet:\n    image: ghcr.io/siderolabs/kubelet:v1.33.0\n    extraArgs: {rotate-server-certificates: true}\ncluster:\n  apiServer:\n    admissionControl:\n      - name: EventRateLimit\n        configuration: [not, a, map]\n---\napiVersion: v1alpha1\nkind: KubeletConfig\nconfig: {maxPods: 250}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: w1\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: tailscale\nenvironment: [TS_AUTHKEY=x]\n";
        let c = load(&inputs(&[("f", text)])).unwrap();
        let kinds: Vec<_> = c.documents.iter().map(|d| d.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "v1alpha1",
                "KubeletConfig",
                "HostnameConfig",
                "ExtensionServiceConfig"
            ]
        );
        assert!(c.kubelet_config.is_some());
        assert!(c.pod_security.is_none());
    }

    #[test]
    fn document_index_and_line() {
        let text = "# head\n---\nmachine: {}\n---\n---\n\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n";
        let c = load(&inputs(&[("f", text)])).unwrap();
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.documents[1].index, 2);
        assert_eq!(c.documents[1].line, 7);
        assert_eq!(c.documents[1].name.as_deref(), Some("longhorn"));
        assert_eq!(
            c.documents[1].to_string(),
            "f (document 2, UserVolumeConfig longhorn)"
        );
    }

    #[test]
    fn kubernetes_manifests_are_listed_not_read() {
        let text = "apiVersion: v1\nkind: KubeletConfig\n---\napiVersion: storage.k8s.io/v1\nkind: UserVolumeConfig\n";
        let c = load(&inputs(&[("f", text)])).unwrap();
        assert_eq!(c.documents.len(), 2);
        assert!(c.kubelet_config.is_none());
        assert!(c.volumes.is_empty());
        assert!(c.documents.iter().all(|d| d.foreign));
        assert!(!c.has_machine_config());
        let c = load(&inputs(&[("f", "foo: bar\n")])).unwrap();
        assert_eq!(c.documents[0].kind, "unknown");
        assert!(!c.has_machine_config());
    }

    #[test]
    fn files_are_machines_patches_or_schematics() {
        let role = |text: &str| classify("f.yaml", text);
        assert_eq!(
            role("version: v1alpha1\nmachine: {type: worker}\n"),
            Ok(FileRole::Machine)
        );
        // A multi-document machine config of Talos 1.14 is still one machine.
        assert_eq!(
            role(
                "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: KubeletConfig\n"
            ),
            Ok(FileRole::Machine)
        );
        assert_eq!(role("machine: {sysctls: {a: b}}\n"), Ok(FileRole::Patch));
        assert_eq!(
            role("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\n"),
            Ok(FileRole::Patch)
        );
        assert_eq!(
            role(
                "customization: {systemExtensions: {officialExtensions: [siderolabs/iscsi-tools]}}\n"
            ),
            Ok(FileRole::Schematic)
        );
        // A stray Kubernetes document next to Talos ones is listed, not an error.
        assert_eq!(
            role("machine: {}\n---\napiVersion: v1\nkind: ConfigMap\n"),
            Ok(FileRole::Patch)
        );
    }

    #[test]
    fn what_is_not_talos_says_what_it_is() {
        let found = |text: &str| match classify("w.yaml", text) {
            Err(TalosError::NotTalos { file, found }) => {
                assert_eq!(file, "w.yaml");
                found
            }
            other => panic!("{text:?}: {other:?}"),
        };
        for empty in ["", "\n", "# only a comment\n", "---\n---\n"] {
            assert_eq!(found(empty), "the file is empty", "{empty:?}");
        }
        assert_eq!(
            found("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"),
            "found a Kubernetes Deployment (apps/v1)"
        );
        assert_eq!(
            found(
                "apiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\n"
            ),
            "found a Kubernetes Service (v1) (and 2 more documents, none of them Talos)"
        );
        assert!(
            found("context: demo\ncontexts:\n  demo: {endpoints: [10.5.0.2]}\n")
                .starts_with("found a talosconfig (talosctl's client configuration"),
        );
        assert_eq!(
            found("a: 1\nb: [x]\nc: {d: e}\n"),
            "found a YAML mapping with none of the keys of a Talos document (version, machine, cluster, \
apiVersion and kind, customization); its keys: a, b, c"
        );
        let err = classify("w.yaml", "apiVersion: apps/v1\nkind: Deployment\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "w.yaml: not a Talos machine config, patch or schematic: found a Kubernetes Deployment (apps/v1)"
        );
    }

    #[test]
    fn workload_isolation_is_read_and_patched_like_a_pointer_bool() {
        // siderolabs/talos pkg/machinery/config/types/runtime/security_profile_config.go
        // @ v1.14.0-rc.1: unnamed SecurityProfileConfig, `workloadIsolation` a *bool.
        const ON: &str =
            "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: true\n";
        const OFF: &str =
            "apiVersion: v1alpha1\nkind: SecurityProfileConfig\nworkloadIsolation: false\n";
        const EMPTY: &str = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n";
        const DELETE: &str = "apiVersion: v1alpha1\nkind: SecurityProfileConfig\n$patch: delete\n";
        let read = |files: &[&str]| {
            let named: Vec<(String, String)> = files
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("f{i}"), t.to_string()))
                .collect();
            let c = load(&named).unwrap();
            assert!(c.refusals.is_empty(), "{:?}", c.refusals);
            c.workload_isolation
                .map(|w| (w.value, w.origin.file, w.line))
        };
        assert_eq!(read(&["machine: {}\n"]), None);
        assert_eq!(read(&[ON]), Some((true, "f0".into(), 3)));
        // An explicit false overrides true (a pointer: false is not a zero value).
        assert_eq!(read(&[ON, OFF]), Some((false, "f1".into(), 3)));
        assert_eq!(read(&[OFF, ON]), Some((true, "f1".into(), 3)));
        // A patch that leaves the field out keeps it.
        assert_eq!(read(&[ON, EMPTY]), Some((true, "f0".into(), 3)));
        // The document without the field: isolation off, placed at the document.
        assert_eq!(read(&[EMPTY]), Some((false, "f0".into(), 1)));
        // `$patch: delete` removes the document.
        assert_eq!(read(&[ON, DELETE]), None);
    }

    #[test]
    fn system_volumes_of_their_own_need_provisioning() {
        // siderolabs/talos pkg/machinery/config/types/block/volume_config.go @ v1.14.0-rc.1:
        // ETCD, CRI, KUBELET and LOG stay folders on EPHEMERAL unless provisioning
        // sets a disk selector, grow, minSize or maxSize (ProvisioningRequested).
        let text = "apiVersion: v1alpha1\nkind: VolumeConfig\nname: KUBELET\nprovisioning:\n  minSize: 10GiB\n---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: LOG\nmount:\n  secure: true\n---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: CRI\nprovisioning:\n  grow: false\n---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nprovisioning:\n  maxSize: 50GiB\n";
        let c = load(&inputs(&[("volumes.yaml", text)])).unwrap();
        let ids: Vec<_> = c.system_volumes.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(ids, ["KUBELET", "CRI"]);
        assert_eq!(
            c.system_volumes[0].origin.to_string(),
            "volumes.yaml (document 1, VolumeConfig KUBELET)"
        );
        // Deleted by a later patch: a folder on EPHEMERAL again.
        let delete = "apiVersion: v1alpha1\nkind: VolumeConfig\nname: KUBELET\n$patch: delete\n";
        let c = load(&inputs(&[("volumes.yaml", text), ("delete.yaml", delete)])).unwrap();
        let ids: Vec<_> = c.system_volumes.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(ids, ["CRI"]);
    }

    #[test]
    fn a_named_kind_without_a_name_is_an_error() {
        let text = "apiVersion: v1alpha1\nkind: KernelModuleConfig\n";
        let err = load(&inputs(&[("mods.yaml", text)])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mods.yaml"), "{msg}");
        assert!(msg.contains("KernelModuleConfig"), "{msg}");
        assert!(msg.contains("name"), "{msg}");
    }
}
