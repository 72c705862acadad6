{{/* Names, labels and values derived once for every template. */}}

{{- define "dsc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator's name: cluster-scoped objects (ClusterRoles) carry it too. */}}
{{- define "dsc.fullname" -}}
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

{{- define "dsc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dsc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dsc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dsc-federation
{{- end }}

{{- define "dsc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dsc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dsc.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* This cluster's region: `region`, else the Federation's spec.region when the chart creates it. */}}
{{- define "dsc.region" -}}
{{- $fromFederation := "" }}
{{- if .Values.federation.create }}
{{- $fromFederation = .Values.federation.spec.region | default "" }}
{{- end }}
{{- $region := .Values.region | default $fromFederation }}
{{- if and .Values.federation.create $fromFederation .Values.region (ne .Values.region $fromFederation) }}
{{- fail (printf "region (%s) and federation.spec.region (%s) must agree" .Values.region $fromFederation) }}
{{- end }}
{{- $region }}
{{- end }}

{{- define "dsc.peerSecretName" -}}
{{- default (printf "%s-peer-tls" (include "dsc.fullname" .)) .Values.peer.tls.secretName }}
{{- end }}

{{/* host:port the other regions dial, recorded in the federation state. */}}
{{- define "dsc.peerAdvertise" -}}
{{- if .Values.peer.advertise }}
{{- .Values.peer.advertise }}
{{- else }}
{{- printf "%s-federation.%s.svc:%d" (include "dsc.fullname" .) .Release.Namespace (int .Values.peer.port) }}
{{- end }}
{{- end }}

{{/* Whether the federation state gets a PersistentVolumeClaim per replica. */}}
{{- define "dsc.persistent" -}}
{{- if and .Values.peer.enabled .Values.persistence.enabled }}true{{ end }}
{{- end }}
