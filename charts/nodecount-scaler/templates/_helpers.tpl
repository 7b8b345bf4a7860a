{{/*
Every object is named nodecount-scaler(-...), as in the kustomize base: the ClusterRoles,
their bindings and the admission policies are cluster-scoped, so there is one release per
cluster, in the namespace of its choice.
*/}}

{{/* Labels of every object: the base's name label plus Helm's recommended ones. */}}
{{- define "nodecount-scaler.labels" -}}
app.kubernetes.io/name: nodecount-scaler
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The pods' labels, and every selector of them (immutable in the Deployment). */}}
{{- define "nodecount-scaler.selectorLabels" -}}
app.kubernetes.io/name: nodecount-scaler
{{- end }}

{{/* The only subject of every binding: the pods' service account. */}}
{{- define "nodecount-scaler.subjects" -}}
- kind: ServiceAccount
  name: nodecount-scaler
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* The service account as the API server names it: what the admission policies match. */}}
{{- define "nodecount-scaler.username" -}}
system:serviceaccount:{{ .Release.Namespace }}:nodecount-scaler
{{- end }}

{{/* The match condition shared by every admission policy. */}}
{{- define "nodecount-scaler.matchConditions" -}}
matchConditions:
  - name: nodecount-scaler-service-account
    expression: >-
      request.userInfo.username == '{{ include "nodecount-scaler.username" . }}'
{{- end }}

{{/* A binding of `role` (kind, name) to the service account, in `namespace` if given. */}}
{{- define "nodecount-scaler.binding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- with .namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "nodecount-scaler.labels" .root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .roleKind }}
  name: {{ .role }}
subjects:
  {{- include "nodecount-scaler.subjects" .root | nindent 2 }}
{{- end }}
