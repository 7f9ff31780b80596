{{/*
The chart name, or nameOverride.
*/}}
{{- define "authgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release
name (when it already contains the chart name), else release-chart. Truncated
to 63 characters, the limit of DNS labels (Service names).
*/}}
{{- define "authgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The name of cluster-scoped objects (ClusterRole, ClusterRoleBinding): the
release namespace is part of it, so that the same release name in two
namespaces does not collide.
*/}}
{{- define "authgate.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "authgate.fullname" .) }}
{{- end }}

{{- define "authgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "authgate.labels" -}}
helm.sh/chart: {{ include "authgate.chart" . }}
{{ include "authgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "authgate.tag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: authgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the pods; they never change on upgrade.
*/}}
{{- define "authgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "authgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "authgate.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "authgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "authgate.tag" .) }}
{{- end }}

{{- define "authgate.leaseName" -}}
{{- default (printf "%s-status-writer" (include "authgate.fullname" .)) .Values.config.leaderElection.leaseName }}
{{- end }}

{{/*
The Service's in-cluster DNS name.
*/}}
{{- define "authgate.serviceHost" -}}
{{- printf "%s.%s.svc.%s" (include "authgate.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}
