{{/* The release's resource name, at most 63 characters. */}}
{{- define "sesame.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every resource carries. */}}
{{- define "sesame.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The labels that select this release's pods. */}}
{{- define "sesame.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The replica count: 2 on MongoDB and 1 on SQLite unless set; more than one pod on the embedded
SQLite store is refused, since its file lives on one ReadWriteOnce volume.
*/}}
{{- define "sesame.replicas" -}}
{{- $sqlite := eq .Values.store.kind "sqlite" -}}
{{- $replicas := .Values.replicaCount | default (ternary 1 2 $sqlite) | int -}}
{{- if and $sqlite (gt $replicas 1) -}}
{{- fail "store.kind=sqlite runs exactly one replica: use store.kind=mongodb for more" -}}
{{- end -}}
{{- if and $sqlite .Values.autoscaling.enabled -}}
{{- fail "autoscaling needs store.kind=mongodb: the embedded SQLite store runs one replica" -}}
{{- end -}}
{{- $replicas -}}
{{- end -}}
