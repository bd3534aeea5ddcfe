{{/* Chart name, truncated to 63 characters. */}}
{{- define "recsys.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "recsys.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's resources: <fullname>-<component>. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "recsys.componentName" -}}
{{- printf "%s-%s" (include "recsys.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "recsys.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels common to every object. */}}
{{- define "recsys.labels" -}}
helm.sh/chart: {{ include "recsys.chart" . }}
app.kubernetes.io/name: {{ include "recsys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: recsys
{{- end -}}

{{/* Selector labels of a component. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "recsys.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recsys.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of a component's objects. */}}
{{- define "recsys.componentLabels" -}}
{{ include "recsys.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image reference (digest wins over tag). */}}
{{- define "recsys.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "recsys.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the Secret holding admin-token, database-url, redis-url, feature-store-redis-url. */}}
{{- define "recsys.secretName" -}}
{{- default (include "recsys.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "recsys.serviceAccountName" -}}
{{- include "recsys.componentName" . -}}
{{- end -}}

{{- define "recsys.migrationName" -}}
{{- include "recsys.componentName" (dict "root" . "component" "migrate") -}}
{{- end -}}

{{/* Name of the offline-store PVC. */}}
{{- define "recsys.pvcName" -}}
{{- default (include "recsys.componentName" (dict "root" . "component" "offline")) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Tenant namespace name. Call with the tenant id. */}}
{{- define "recsys.tenantNamespace" -}}
{{- printf "recsys-%s" . -}}
{{- end -}}

{{/* Secret values: explicit value, else a development default, else fail in production. */}}
{{- define "recsys.databaseUrl" -}}
{{- if .Values.database.url -}}
{{- .Values.database.url -}}
{{- else if eq .Values.environment "production" -}}
{{- fail "database.url is required in production (or set auth.existingSecret with key database-url)" -}}
{{- else -}}
postgresql+psycopg://recsys:recsys@postgresql:5432/recsys
{{- end -}}
{{- end -}}

{{- define "recsys.redisUrl" -}}
{{- if .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- else if eq .Values.environment "production" -}}
{{- fail "redis.url is required in production (or set auth.existingSecret with key redis-url)" -}}
{{- else -}}
redis://redis:6379/0
{{- end -}}
{{- end -}}

{{- define "recsys.featureStoreRedisUrl" -}}
{{- if .Values.redis.featureStoreUrl -}}
{{- .Values.redis.featureStoreUrl -}}
{{- else if eq .Values.environment "production" -}}
{{- fail "redis.featureStoreUrl is required in production (or set auth.existingSecret with key feature-store-redis-url)" -}}
{{- else -}}
redis://redis:6379/1
{{- end -}}
{{- end -}}

{{/* Admin token: explicit value, else the one already stored (upgrade), else generated in development. */}}
{{- define "recsys.adminToken" -}}
{{- if .Values.auth.adminToken -}}
{{- .Values.auth.adminToken -}}
{{- else if eq .Values.environment "production" -}}
{{- fail "auth.adminToken is required in production (or set auth.existingSecret with key admin-token)" -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "recsys.fullname" .) -}}
{{- if and $existing $existing.data (index $existing.data "admin-token") -}}
{{- index $existing.data "admin-token" | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Refuse placeholder secrets in production (the application refuses them too). */}}
{{- define "recsys.validate" -}}
{{- if and (eq .Values.environment "production") (not .Values.auth.existingSecret) -}}
{{- if has .Values.auth.adminToken (list "change-me" "dev-admin-token") -}}
{{- fail "auth.adminToken: a placeholder token is not allowed in production" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Env var taken from the chart's (or the existing) Secret. Call with (dict "root" $ "name" "X" "key" "k"). */}}
{{- define "recsys.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "recsys.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* Pod-level security context (uid 10001, non-root, RuntimeDefault seccomp). */}}
{{- define "recsys.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Container-level security context. */}}
{{- define "recsys.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities:
    drop:
      - ALL
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Env shared by every deployable, with its prefix. Call with (dict "root" $ "prefix" "RECSYS_GATEWAY_"). */}}
{{- define "recsys.commonConfig" -}}
{{- $v := .root.Values -}}
{{ .prefix }}ENVIRONMENT: {{ $v.environment | quote }}
{{ .prefix }}EVENT_LOG__BACKEND: "kafka"
{{ .prefix }}EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS: {{ $v.kafka.bootstrapServers | quote }}
{{ .prefix }}EVENT_LOG__KAFKA__TOPIC_PREFIX: {{ $v.kafka.topicPrefix | quote }}
{{ .prefix }}EVENT_LOG__KAFKA__PARTITIONS: {{ $v.kafka.partitions | quote }}
{{ .prefix }}EVENT_LOG__KAFKA__REPLICATION_FACTOR: {{ $v.kafka.replicationFactor | quote }}
{{ .prefix }}TELEMETRY__LOG_LEVEL: {{ $v.telemetry.logLevel | quote }}
{{ .prefix }}TELEMETRY__LOG_JSON: {{ $v.telemetry.logJson | toString | quote }}
{{- with $v.telemetry.otlpEndpoint }}
{{ $.prefix }}TELEMETRY__OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* /tmp emptyDir volume mount (read-only root filesystem). */}}
{{- define "recsys.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "recsys.offlineVolume" -}}
- name: offline
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "recsys.pvcName" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}
