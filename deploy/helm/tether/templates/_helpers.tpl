{{/* Names and labels. */}}
{{- define "tether.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tether.fullname" -}}
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

{{- define "tether.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tether.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tether.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tether.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tether.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tether.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tether.redisName" -}}
{{- printf "%s-redis" (include "tether.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* host:port of Redis, or "" without one. */}}
{{- define "tether.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s:6379" (include "tether.redisName" .) -}}
{{- else -}}
{{- .Values.redis.external.address -}}
{{- end -}}
{{- end -}}

{{/* Environment variable of a management token. */}}
{{- define "tether.tokenEnv" -}}
{{- printf "TETHER_MGMT_TOKEN_%s" (regexReplaceAll "[^A-Za-z0-9]" . "_" | upper) -}}
{{- end -}}

{{/*
The config.yaml the ConfigMap holds: .Values.config plus what the chart
manages (listener, management address and tokens, replay path, Redis
stores), each only where the user's config does not set it.
*/}}
{{- define "tether.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) -}}
{{- $_ := set $cfg "version" "v0.3" -}}
{{- if not (hasKey $cfg "listeners") -}}
{{- $_ := set $cfg "listeners" (list (dict "name" "main" "address" "0.0.0.0" "port" (int .Values.ports.router))) -}}
{{- end -}}
{{- $global := default dict $cfg.global -}}
{{- $services := default dict $global.services -}}
{{- $mgmt := default dict $services.management_api -}}
{{- if not (hasKey $mgmt "listen") -}}
{{- $host := ternary "0.0.0.0" "127.0.0.1" .Values.management.expose -}}
{{- $_ := set $mgmt "listen" (printf "%s:%d" $host (int .Values.ports.management)) -}}
{{- end -}}
{{- if and .Values.management.tokens (not (hasKey $mgmt "tokens")) -}}
{{- $tokens := list -}}
{{- range .Values.management.tokens -}}
{{- $tokens = append $tokens (dict "name" .name "role" (default "viewer" .role) "token_env" (include "tether.tokenEnv" .name)) -}}
{{- end -}}
{{- $_ := set $mgmt "tokens" $tokens -}}
{{- end -}}
{{- $_ := set $services "management_api" $mgmt -}}
{{- $replay := default dict $services.router_replay -}}
{{- if not (hasKey $replay "path") -}}
{{- $_ := set $replay "path" "/var/lib/tether/replay.db" -}}
{{- end -}}
{{- $_ := set $services "router_replay" $replay -}}
{{- $_ := set $global "services" $services -}}
{{- $addr := include "tether.redisAddress" . -}}
{{- if $addr -}}
{{- $stores := default dict $global.stores -}}
{{- range .Values.redis.stores -}}
{{- if not (hasKey $stores .) -}}
{{- $redis := dict "address" $addr "key_prefix" $.Values.redis.keyPrefix "timeout_ms" (int $.Values.redis.timeoutMs) -}}
{{- if and (not $.Values.redis.enabled) $.Values.redis.external.passwordSecret.name -}}
{{- $_ := set $redis "password_env" "REDIS_PASSWORD" -}}
{{- end -}}
{{- $_ := set $stores . (dict "backend" "redis" "redis" $redis) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $global "stores" $stores -}}
{{- end -}}
{{- $_ := set $cfg "global" $global -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* "memory" or "redis": the session store of the rendered config. */}}
{{- define "tether.sessionBackend" -}}
{{- $cfg := fromYaml (include "tether.config" .) -}}
{{- $stores := default dict (default dict $cfg.global).stores -}}
{{- default "memory" (default dict $stores.session).backend -}}
{{- end -}}
