{{/*
The name every object of the guard carries. Fixed, not derived from the
release name: the guard's flags and RBAC (resourceNames) refer to it.
*/}}
{{- define "ltg.name" -}}
longhorn-talos-guard
{{- end -}}

{{/* The guard's namespace. */}}
{{- define "ltg.namespace" -}}
{{- required "namespace.name is required" .Values.namespace.name -}}
{{- end -}}

{{/*
Labels of every object: the selector label of manifests/base, then Helm's
own (the chart tests strip exactly these four before comparing with
manifests/base).
*/}}
{{- define "ltg.labels" -}}
app.kubernetes.io/name: {{ include "ltg.name" . }}
{{ include "ltg.helmLabels" . }}
{{- end -}}

{{/*
Helm's labels alone: the webhook configurations of manifests/base carry no
labels, so they get only these.
*/}}
{{- define "ltg.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The certificate mode, checked. */}}
{{- define "ltg.certMode" -}}
{{- $mode := .Values.certificates.mode -}}
{{- if not (has $mode (list "self-managed" "cert-manager")) -}}
{{- fail (printf "certificates.mode must be self-managed or cert-manager, not %q" $mode) -}}
{{- end -}}
{{- if and (eq $mode "cert-manager") .Values.webhooks.url -}}
{{- fail "webhooks.url (development) works with certificates.mode=self-managed only" -}}
{{- end -}}
{{- $mode -}}
{{- end -}}

{{/*
One webhook's failurePolicy: the value of failurePolicy.<key>, checked.
Call with (list $ "key").
*/}}
{{- define "ltg.failurePolicy" -}}
{{- $root := index . 0 -}}
{{- $key := index . 1 -}}
{{- $value := index $root.Values.webhooks.failurePolicy $key -}}
{{- if not (has $value (list "Fail" "Ignore")) -}}
{{- fail (printf "webhooks.failurePolicy.%s must be Fail or Ignore, not %q" $key $value) -}}
{{- end -}}
{{- $value -}}
{{- end -}}

{{/*
A webhook's clientConfig: the Service (as in manifests/base), or in
development the url webhooks.url + path with webhooks.caBundle. Call with
(list $ "/path").
*/}}
{{- define "ltg.clientConfig" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
{{- if $root.Values.webhooks.url -}}
url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhooks.url) $path | quote }}
{{- with $root.Values.webhooks.caBundle }}
caBundle: {{ . | quote }}
{{- end }}
{{- else -}}
service:
  name: {{ include "ltg.name" $root }}
  namespace: {{ include "ltg.namespace" $root }}
  path: {{ $path }}
  port: 443
{{- end -}}
{{- end -}}

{{/*
The selector of the webhooks on namespaced objects, and (as objectSelector)
of the namespace webhooks: the Longhorn namespace by its immutable name
label, never kube-system or the guard's own namespace.
*/}}
{{- define "ltg.longhornNamespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: In
    values:
      - {{ required "config.longhornNamespace is required" .Values.config.longhornNamespace }}
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      - kube-system
      - {{ include "ltg.namespace" . }}
{{- end -}}

{{/* cert-manager: the annotation that has cainjector fill in caBundle. */}}
{{- define "ltg.injectCA" -}}
cert-manager.io/inject-ca-from: {{ include "ltg.namespace" . }}/{{ include "ltg.name" . }}
{{- end -}}

{{/* The admission engine, checked: webhook, cel or both. */}}
{{- define "ltg.engine" -}}
{{- $engine := .Values.admission.engine -}}
{{- if not (has $engine (list "webhook" "cel" "both")) -}}
{{- fail (printf "admission.engine must be webhook, cel or both, not %q" $engine) -}}
{{- end -}}
{{- if and (ne $engine "webhook") (not (semverCompare ">=1.34-0" .Capabilities.KubeVersion.Version)) -}}
{{- fail (printf "admission.engine=%s needs Kubernetes 1.34 or newer (the policies' CEL; Longhorn 1.13's floor too), not %s: use webhook (helm template: give the cluster's version with --kube-version)" $engine .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- $engine -}}
{{- end -}}

{{/*
"true" when the API server serves MutatingAdmissionPolicy v1 by default
(Kubernetes 1.36 or newer), else empty.
*/}}
{{- define "ltg.mutatingPolicies" -}}
{{- if semverCompare ">=1.36-0" .Capabilities.KubeVersion.Version -}}true{{- end -}}
{{- end -}}

{{/*
The admission policies shipped with engine cel or both: admission.policies
when given; else the chart's copy of `policies cel` for the default
configuration when the config is the default one (the MutatingAdmissionPolicy
from 1.36 on); else none (engine both) or a refusal (engine cel).
*/}}
{{- define "ltg.admissionPolicies" -}}
{{- $engine := include "ltg.engine" . -}}
{{- if ne $engine "webhook" -}}
{{- if .Values.admission.policies -}}
{{- .Values.admission.policies -}}
{{- else -}}
{{- if and (include "ltg.defaultCelConfig" .) (not .Values.talosConfig) -}}
{{- .Files.Get "files/cel/validating.yaml" -}}
{{- if include "ltg.mutatingPolicies" . }}
---
{{ .Files.Get "files/cel/mutating.yaml" -}}
{{- end -}}
{{- else if eq $engine "cel" -}}
{{- fail "admission.engine=cel with a config or talosConfig other than the defaults needs admission.policies: the output of `longhorn-talos-guard policies cel --config config.yaml [--talos-config worker.yaml] --kubernetes-version 1.NN` for it (--set-file admission.policies=FILE); the chart's own copy is for the default configuration only" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when webhook NAME is rendered (call with (list $ "name")): every
webhook, but with engine cel not the pods and pod-controllers webhooks
(LTG-W030 and LTG-W031 run as policies), nor from Kubernetes 1.36 on the
mutating namespace webhook (LTG-W001 runs as the MutatingAdmissionPolicy).
With engine cel the validating namespace webhook keeps only the subresources
(webhooks.yaml).
*/}}
{{- define "ltg.webhookOn" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $cel := eq (include "ltg.engine" $root) "cel" -}}
{{- if and $cel (eq $name "namespacesMutate") (include "ltg.mutatingPolicies" $root) -}}
{{- else if and $cel (has $name (list "pods" "podControllers")) -}}
{{- else -}}true{{- end -}}
{{- end -}}

{{/*
"true" when every value of config the policies are generated from has its
default (values.yaml; tests/chart.rs changes each in turn): the chart's own
copy of the policies is right only then. v2MinHugepages is read by LTG-W020,
which has no policy.
*/}}
{{- define "ltg.defaultCelConfig" -}}
{{- $defaults := dict "longhornNamespace" "longhorn-system" "clusterDefaultEnforce" "baseline" "allowedMounts" (list) "nodes" (dict) "exemptUsernames" (list) "policies" (dict "namespacePodSecurity" "enforce" "diskPaths" "enforce" "blockDisks" "enforce" "podHostPaths" "enforce") -}}
{{- if eq (toJson (omit .Values.config "v2MinHugepages")) (toJson $defaults) -}}true{{- end -}}
{{- end -}}
