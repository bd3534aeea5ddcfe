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

{{/* The platform secret each deployment's model-server token is derived from (control plane
and gateway); generated once and kept across upgrades. */}}
{{- define "recsys.modelTokenSecret" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "recsys.fullname" .) -}}
{{- if and $existing $existing.data (index $existing.data "model-token-secret") -}}
{{- index $existing.data "model-token-secret" | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
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

{{/* MLflow tracking URI: explicit value, else a development default, else fail in production. */}}
{{- define "recsys.mlflowTrackingUri" -}}
{{- if .Values.mlflow.trackingUri -}}
{{- .Values.mlflow.trackingUri -}}
{{- else if eq .Values.environment "production" -}}
{{- fail "mlflow.trackingUri is required in production (the model registry of training and serving)" -}}
{{- else -}}
http://mlflow:5000
{{- end -}}
{{- end -}}

{{/* The model-server image reference (digest wins over tag). */}}
{{- define "recsys.modelServerImage" -}}
{{- $img := .Values.modelServer.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret the model servers read in each tenant namespace. */}}
{{- define "recsys.modelServerSecretName" -}}
{{- default (include "recsys.componentName" (dict "root" . "component" "model-server")) .Values.modelServer.existingSecret -}}
{{- end -}}

{{/* The model servers need a Secret in every tenant namespace; the chart cannot copy an existing one there. */}}
{{- define "recsys.validateModelServer" -}}
{{- if and .Values.modelServer.enabled .Values.auth.existingSecret (not .Values.modelServer.existingSecret) .Values.tenants -}}
{{- fail "modelServer.existingSecret is required with auth.existingSecret: create a Secret with keys feature-store-redis-url and feature-store-registry-url in every tenant namespace" -}}
{{- end -}}
{{- end -}}

{{/* The ServingRuntime spec (shared by the namespaced and the cluster-scoped kind). */}}
{{- define "recsys.servingRuntimeSpec" -}}
{{- $m := .Values.modelServer -}}
supportedModelFormats:
  - name: recsys
    version: "1"
    autoSelect: true
    priority: 1
protocolVersions:
  - v1
  - v2
multiModel: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
containers:
  - name: kserve-container
    image: {{ include "recsys.modelServerImage" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["python", "-m", "recsys_model_servers"]
    args:
      - --name={{ "{{" }}.Name{{ "}}" }}
      - --http-port={{ $m.port }}
    ports:
      - name: http1
        containerPort: {{ $m.port }}
        protocol: TCP
    {{- include "recsys.containerSecurityContext" . | nindent 4 }}
    env:
      - name: RECSYS_MODEL_SERVER_ENVIRONMENT
        value: {{ .Values.environment | quote }}
      - name: RECSYS_MODEL_SERVER_TRACKING_URI
        value: {{ include "recsys.mlflowTrackingUri" . | quote }}
      - name: MLFLOW_TRACKING_URI
        value: {{ include "recsys.mlflowTrackingUri" . | quote }}
      - name: RECSYS_MODEL_SERVER_ALIAS_POLL_SECONDS
        value: {{ $m.aliasPollSeconds | quote }}
      - name: RECSYS_MODEL_SERVER_ONLINE_FEATURES
        value: {{ $m.onlineFeatures | toString | quote }}
      - name: RECSYS_MODEL_SERVER_FEATURE_STORE__ONLINE_STORE
        value: "redis"
      - name: RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL
        valueFrom:
          secretKeyRef:
            name: {{ include "recsys.modelServerSecretName" . }}
            key: feature-store-redis-url
      - name: RECSYS_MODEL_SERVER_FEATURE_STORE__REGISTRY_URL
        valueFrom:
          secretKeyRef:
            name: {{ include "recsys.modelServerSecretName" . }}
            key: feature-store-registry-url
      - name: RECSYS_MODEL_SERVER_TELEMETRY__LOG_LEVEL
        value: {{ .Values.telemetry.logLevel | quote }}
      - name: RECSYS_MODEL_SERVER_TELEMETRY__LOG_JSON
        value: {{ .Values.telemetry.logJson | toString | quote }}
      {{- with .Values.telemetry.otlpEndpoint }}
      - name: RECSYS_MODEL_SERVER_TELEMETRY__OTLP_ENDPOINT
        value: {{ . | quote }}
      {{- end }}
      # MLflow downloads artifacts to a temporary folder: the root filesystem is read-only.
      - name: TMPDIR
        value: /tmp
      - name: HOME
        value: /tmp
      {{- with $m.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    resources:
      {{- toYaml $m.resources | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /v2/health/ready
        port: http1
      periodSeconds: 5
      timeoutSeconds: 3
      failureThreshold: 3
    livenessProbe:
      httpGet:
        path: /v2/health/live
        port: http1
      initialDelaySeconds: 30
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 2Gi
{{- end -}}
