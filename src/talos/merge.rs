//! Reading YAML streams into documents and folding them, file after file,
//! into one [`MachineConfig`] with Talos's patch merge rules.

use serde_saphyr::Spanned;

use super::model::{
    DocumentRef, ExtraMount, LEGACY_KIND, MachineConfig, PodSecurity, SCHEMATIC_KIND, Sourced,
    Volume, VolumeKind,
};
use super::raw::{
    LenientList, RawAdmissionPlugin, RawDocument, RawPodSecurityConfiguration, Scalar,
};
use super::{FileRole, TalosError};

/// Kinds Talos matches by `kind` and `name`; the lint reads these.
const NAMED_KINDS: [&str; 6] = [
    "UserVolumeConfig",
    "ExistingVolumeConfig",
    "ExternalVolumeConfig",
    "RawVolumeConfig",
    "KernelModuleConfig",
    "KubeAdmissionControlConfig",
];

/// The kind recorded for a mapping that is no Talos document.
const UNKNOWN_KIND: &str = "unknown";

/// Parses every input and merges them in order; see [`MachineConfig`] for the rules.
pub(crate) fn load(inputs: &[(String, String)]) -> Result<MachineConfig, TalosError> {
    let mut config = MachineConfig::default();
    for (file, text) in inputs {
        config.inputs.push(file.clone());
        let docs: Vec<Spanned<RawDocument>> =
            serde_saphyr::from_multiple(text).map_err(|e| parse_error(file, &e))?;
        for (i, doc) in docs.into_iter().enumerate() {
            let line = doc.referenced.line();
            // A `kind` under another apiVersion (a Kubernetes manifest, say)
            // is not a Talos document: listed, never read.
            let foreign = doc.value.kind.text().is_some()
                && doc
                    .value
                    .api_version
                    .text()
                    .is_some_and(|v| v != "v1alpha1");
            let origin = document_ref(file, i + 1, line, &doc.value, foreign)?;
            config.documents.push(origin.clone());
            if !foreign {
                apply(&mut config, doc.value, origin);
            }
        }
    }
    Ok(config)
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

fn document_ref(
    file: &str,
    index: usize,
    line: u64,
    doc: &RawDocument,
    foreign: bool,
) -> Result<DocumentRef, TalosError> {
    let kind = match doc.kind.text() {
        Some(kind) => kind.to_string(),
        None if doc.customization.0.is_some() => SCHEMATIC_KIND.to_string(),
        None if doc.version.text().is_some()
            || doc.machine.0.is_some()
            || doc.cluster.0.is_some() =>
        {
            LEGACY_KIND.to_string()
        }
        None => UNKNOWN_KIND.to_string(),
    };
    let foreign = foreign || kind == UNKNOWN_KIND;
    let name = doc.name.text().map(str::to_string);
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

fn text(s: &Scalar) -> Option<String> {
    s.text().map(str::to_string)
}

fn sourced<T>(value: T, origin: &DocumentRef, line: u64) -> Sourced<T> {
    Sourced {
        value,
        origin: origin.clone(),
        line: if line == 0 { origin.line } else { line },
    }
}

/// The PodSecurity configuration of a `cluster.apiServer.admissionControl` entry.
fn pod_security(plugin: &RawAdmissionPlugin) -> Option<PodSecurity> {
    (plugin.name.text() == Some("PodSecurity"))
        .then(|| pod_security_configuration(plugin.configuration.0.as_ref()))
}

fn pod_security_configuration(cfg: Option<&RawPodSecurityConfiguration>) -> PodSecurity {
    PodSecurity {
        enforce: cfg
            .and_then(|c| c.defaults.0.as_ref())
            .and_then(|d| text(&d.enforce)),
        exempt_namespaces: cfg
            .and_then(|c| c.exemptions.0.as_ref())
            .map(|e| e.namespaces.0.iter().filter_map(text).collect())
            .unwrap_or_default(),
    }
}

/// Applies `$patch: delete`: removes what earlier documents of the same kind
/// (and name, for named kinds) contributed.
fn delete(config: &mut MachineConfig, origin: &DocumentRef) {
    let name = origin.name.as_deref().unwrap_or_default();
    match origin.kind.as_str() {
        "SysctlConfig" => config.sysctl_documents.clear(),
        "KubeletConfig" => config.kubelet_config = None,
        "KubeAdmissionControlConfig" if name == "PodSecurity" => {
            config.pod_security_document = None;
        }
        "KernelModuleConfig" => config.kernel_module_documents.retain(|m| m.value != name),
        "RawVolumeConfig" => config.raw_volumes.retain(|v| v.value != name),
        kind => {
            if let Some(vk) = VolumeKind::from_kind(kind) {
                config
                    .volumes
                    .retain(|v| !(v.value.kind == vk && v.value.name == name));
            }
        }
    }
}

fn apply(config: &mut MachineConfig, doc: RawDocument, origin: DocumentRef) {
    if doc.patch.text() == Some("delete") && origin.kind != LEGACY_KIND {
        delete(config, &origin);
        return;
    }
    match origin.kind.as_str() {
        LEGACY_KIND => apply_legacy(config, doc, origin),
        SCHEMATIC_KIND => {
            let customization = doc.customization.0.unwrap_or_default();
            let extensions = customization
                .system_extensions
                .0
                .map(|s| {
                    s.official_extensions
                        .0
                        .iter()
                        .filter_map(|e| text(&e.value))
                        .collect()
                })
                .unwrap_or_default();
            config.schematic_kernel_args = kernel_args(customization.extra_kernel_args, &origin);
            let line = origin.line;
            config.schematic = Some(sourced(extensions, &origin, line));
        }
        "SysctlConfig" => {
            for (key, value) in doc.params.0.unwrap_or_default() {
                if let Some(v) = text(&value.value) {
                    let line = value.referenced.line();
                    config
                        .sysctl_documents
                        .insert(key, sourced(v, &origin, line));
                }
            }
        }
        "KubeletConfig" => config.kubelet_config = Some(origin),
        "KubeAdmissionControlConfig" => {
            if origin.name.as_deref() == Some("PodSecurity") {
                let ps = pod_security_configuration(doc.configuration.0.as_ref());
                let line = origin.line;
                config.pod_security_document = Some(sourced(ps, &origin, line));
            }
        }
        "KernelModuleConfig" => {
            let name = origin.name.clone().unwrap_or_default();
            upsert(
                &mut config.kernel_module_documents,
                name,
                &origin,
                |a, b| a == b,
            );
        }
        "RawVolumeConfig" => {
            let name = origin.name.clone().unwrap_or_default();
            upsert(&mut config.raw_volumes, name, &origin, |a, b| a == b);
        }
        kind => {
            if let Some(vk) = VolumeKind::from_kind(kind) {
                let name = origin.name.clone().unwrap_or_default();
                let volume_type = text(&doc.volume_type);
                let existing = config
                    .volumes
                    .iter_mut()
                    .find(|v| v.value.kind == vk && v.value.name == name);
                match existing {
                    // Same kind and name: merge field by field, later wins.
                    Some(v) => {
                        if volume_type.is_some() {
                            v.value.volume_type = volume_type;
                        }
                        v.line = origin.line;
                        v.origin = origin;
                    }
                    None => {
                        let line = origin.line;
                        config.volumes.push(sourced(
                            Volume {
                                kind: vk,
                                name,
                                volume_type,
                            },
                            &origin,
                            line,
                        ));
                    }
                }
            }
            // Any other kind is tolerated and not read.
        }
    }
}

/// The non-empty entries of an `extraKernelArgs` list, each with its line.
fn kernel_args(list: LenientList<Spanned<Scalar>>, origin: &DocumentRef) -> Vec<Sourced<String>> {
    list.0
        .into_iter()
        .filter_map(|a| text(&a.value).map(|v| sourced(v, origin, a.referenced.line())))
        .collect()
}

/// Adds `value`, or moves an equal one to the later document.
fn upsert(
    list: &mut Vec<Sourced<String>>,
    value: String,
    origin: &DocumentRef,
    same: impl Fn(&str, &str) -> bool,
) {
    let line = origin.line;
    match list.iter_mut().find(|s| same(&s.value, &value)) {
        Some(s) => *s = sourced(value, origin, line),
        None => list.push(sourced(value, origin, line)),
    }
}

fn apply_legacy(config: &mut MachineConfig, doc: RawDocument, origin: DocumentRef) {
    if let Some(machine) = doc.machine.0 {
        if let Some(install) = machine.install.0 {
            if let Some(image) = install.image
                && let Some(v) = text(&image.value)
            {
                config.install_image = Some(sourced(v, &origin, image.referenced.line()));
            }
            config
                .install_kernel_args
                .extend(kernel_args(install.extra_kernel_args, &origin));
            for ext in install.extensions.0 {
                if let Some(image) = ext.value.0.as_ref().and_then(|e| text(&e.image)) {
                    config
                        .install_extensions
                        .push(sourced(image, &origin, ext.referenced.line()));
                }
            }
        }
        if let Some(kubelet) = machine.kubelet.0 {
            for m in kubelet.extra_mounts.0 {
                let line = m.referenced.line();
                let Some(raw) = m.value.0 else { continue };
                let mount = ExtraMount {
                    destination: text(&raw.destination),
                    source: text(&raw.source),
                    mount_type: text(&raw.mount_type),
                    options: raw.options.0.iter().filter_map(text).collect(),
                };
                config.extra_mounts.push(sourced(mount, &origin, line));
            }
        }
        // Maps merge key by key, the later document winning.
        for (map, into) in [
            (machine.sysctls, &mut config.sysctls),
            (machine.node_labels, &mut config.node_labels),
            (machine.node_annotations, &mut config.node_annotations),
        ] {
            for (key, value) in map.0.unwrap_or_default() {
                if let Some(v) = text(&value.value) {
                    into.insert(key, sourced(v, &origin, value.referenced.line()));
                }
            }
        }
        if let Some(kernel) = machine.kernel.0 {
            for m in kernel.modules.0 {
                if let Some(name) = m.value.0.as_ref().and_then(|k| text(&k.name)) {
                    config
                        .kernel_modules
                        .push(sourced(name, &origin, m.referenced.line()));
                }
            }
        }
    }
    if let Some(api) = doc.cluster.0.and_then(|c| c.api_server.0) {
        for plugin in api.admission_control.0 {
            let line = plugin.referenced.line();
            if let Some(ps) = plugin.value.0.as_ref().and_then(pod_security) {
                config.pod_security = Some(sourced(ps, &origin, line));
            }
        }
    }
    config.legacy = Some(origin);
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
        let base = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: directory\n---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: other\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"256\"\n  a.b: \"1\"\n";
        let patch = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nvolumeType: partition\n---\napiVersion: v1alpha1\nkind: SysctlConfig\nparams:\n  vm.nr_hugepages: \"2048\"\n";
        let c = load(&inputs(&[("base", base), ("patch", patch)])).unwrap();
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.volumes[0].value.name, "longhorn");
        assert_eq!(c.volumes[0].value.volume_type.as_deref(), Some("partition"));
        assert_eq!(c.volumes[0].origin.file, "patch");
        assert_eq!(c.volumes[1].value.name, "other");
        assert_eq!(c.sysctl_documents["vm.nr_hugepages"].value, "2048");
        assert_eq!(c.sysctl_documents["a.b"].value, "1");
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
    fn a_named_kind_without_a_name_is_an_error() {
        let text = "apiVersion: v1alpha1\nkind: KernelModuleConfig\n";
        let err = load(&inputs(&[("mods.yaml", text)])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mods.yaml"), "{msg}");
        assert!(msg.contains("KernelModuleConfig"), "{msg}");
        assert!(msg.contains("name"), "{msg}");
    }
}
