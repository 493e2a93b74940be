//! In the cluster: the findings about the guard's own access to the Talos API
//! (its `talos.dev` ServiceAccount and the talosconfig Talos writes for it),
//! with the control-plane patch that allows it.

use super::codes;
use crate::talos::{Finding, Severity};

/// The control-plane patch that lets pods of `namespace` hold a talosconfig
/// with the `os:reader` role: the `KubeTalosAPIAccessConfig` document from
/// Talos 1.14 (siderolabs/talos pkg/machinery/config/types/k8s/talos_api_access.go,
/// testdata/kubetalosapiaccessconfig.yaml, v1.14.0-rc.1), or
/// `machine.features.kubernetesTalosAPIAccess` before (deprecated in 1.14).
pub fn api_access_patch(namespace: &str) -> String {
    format!(
        "# Talos 1.14 and later: a document of the control-plane nodes' machine config\n\
apiVersion: v1alpha1\n\
kind: KubeTalosAPIAccessConfig\n\
allowedRoles:\n  - os:reader\n\
allowedKubernetesNamespaces:\n  - {namespace}\n\
# before Talos 1.14, the same under machine.features instead:\n\
# machine:\n\
#   features:\n\
#     kubernetesTalosAPIAccess:\n\
#       enabled: true\n\
#       allowedRoles: [os:reader]\n\
#       allowedKubernetesNamespaces: [{namespace}]\n\
# applied with: talosctl -n <control-plane nodes> patch mc --patch @talos-api-access.yaml\n"
    )
}

fn finding(code: &'static str, account: &str, message: String, fix: String) -> Finding {
    Finding {
        severity: Severity::Error,
        code,
        file: account.to_string(),
        line: None,
        document: None,
        message,
        fix: Some(fix),
    }
}

/// Talos wrote a failure into the ServiceAccount's `status.failureReason`
/// (`Namespace is not allowed: ...`, `Roles not allowed: [...]`: siderolabs/talos
/// internal/app/machined/pkg/controllers/kubeaccess/serviceaccount/crd_controller.go,
/// v1.14.0-rc.1).
pub fn account_refused(namespace: &str, name: &str, reason: &str) -> Finding {
    finding(
        codes::ACCOUNT_REFUSED,
        &format!("{namespace}/{name}"),
        format!(
            "Talos refuses the talos.dev ServiceAccount {namespace}/{name}: its status says {reason:?}; Talos writes no talosconfig into its Secret, so the guard cannot read the nodes through the Talos API (no LTG-P finding about any node, no fresh facts for LTG-W015); allow the namespace {namespace} and the role os:reader on the control plane"
        ),
        api_access_patch(namespace),
    )
}

/// The ServiceAccount (or the `talos.dev` CRD, which Talos installs only
/// when Kubernetes access to its API is enabled: siderolabs/talos
/// internal/app/machined/pkg/controllers/k8s/manifest.go,
/// `13-talos-service-account-crd`, v1.14.0-rc.1) does not exist.
pub fn account_missing(namespace: &str, name: &str, trouble: Option<&str>) -> Finding {
    let why = trouble.map_or(String::new(), |t| format!(" ({t})"));
    finding(
        codes::ACCOUNT_REFUSED,
        &format!("{namespace}/{name}"),
        format!(
            "the guard reads its nodes through the Talos API, but there is no talos.dev ServiceAccount {namespace}/{name}{why}: without it Talos writes no talosconfig for the guard; the talos.dev CRD exists only once the control plane allows Kubernetes access to the Talos API"
        ),
        format!(
            "{}# then apply the guard's talos-api component (kustomize) or set talosAPI.enabled=true (Helm) again\n",
            api_access_patch(namespace)
        ),
    )
}

/// The ServiceAccount is accepted, but the guard has no usable talosconfig:
/// `why` says what is wrong with the mounted file.
pub fn no_talosconfig(namespace: &str, name: &str, why: &str) -> Finding {
    finding(
        codes::NO_TALOSCONFIG,
        &format!("{namespace}/{name}"),
        format!(
            "the guard has no usable talosconfig, so it reads no node: {why}; Talos writes it into the Secret {namespace}/{name} (key config), mounted at /var/run/secrets/talos.dev"
        ),
        format!(
            "kubectl -n {namespace} get secret {name} -o jsonpath='{{.data.config}}' | base64 -d | head -3\n\
kubectl -n {namespace} get serviceaccounts.talos.dev {name} -o yaml\n"
        ),
    )
}
