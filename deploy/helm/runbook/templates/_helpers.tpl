{{/* Names of the release's objects. */}}
{{- define "runbook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "runbook.labels" -}}
app.kubernetes.io/name: runbook
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "runbook.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "runbook.dbSecret" -}}
{{- default (printf "%s-db" (include "runbook.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "runbook.tokenSecret" -}}
{{- default (printf "%s-secret" (include "runbook.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{- define "runbook.githubSecret" -}}
{{- default (printf "%s-github" (include "runbook.fullname" .)) .Values.githubApp.existingSecret -}}
{{- end -}}

{{/* The database URL, for every pod. */}}
{{- define "runbook.dbEnv" -}}
- name: RUNBOOK_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ include "runbook.dbSecret" . }}, key: {{ .Values.database.existingSecretKey }}}}
{{- end -}}

{{/* A mapping as k=v,k=v, sorted by key. */}}
{{- define "runbook.pairs" -}}
{{- $out := list -}}
{{- range $k := keys . | sortAlpha -}}
{{- $out = append $out (printf "%s=%v" $k (index $ $k)) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}
