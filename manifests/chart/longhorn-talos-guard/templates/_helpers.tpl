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
