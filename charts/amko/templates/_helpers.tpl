{{/*
Helpers: names and labels, and the resolution of the settings that have several accepted names
(the AMKO documentation's, AMKO 2.x's and the documentation's misspelling). Each "amko.settings.*"
helper returns JSON so templates read one resolved dict instead of repeating the precedence rules.
*/}}

{{- define "amko.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Objects AMKO's documentation names (gc-1, global-gdp, ...) keep those names; the rest use this. */}}
{{- define "amko.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped names carry the namespace so two installs never collide. */}}
{{- define "amko.clusterScopedName" -}}
{{- printf "%s-%s" .Release.Namespace (include "amko.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "amko.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amko.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "amko.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "amko.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "amko.serviceAccountName" -}}
{{- include "amko.fullname" . -}}
{{- end -}}

{{- define "amko.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/*
A cluster list entry as a context name: a plain string, or a map with `cluster` (GDP style) or
`clusterContext` (GSLBConfig style).
*/}}
{{- define "amko.clusterName" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else if kindIs "map" . -}}
{{- coalesce (get . "cluster") (get . "clusterContext") "" -}}
{{- end -}}
{{- end -}}

{{/*
A selector label as a map of label key to value. AMKO's chart used `label: {app: gslb}`; the
documentation's `label{.key,.value}` reads as `label: {key: app, value: gslb}`, recognised when
the map has exactly those two keys.
*/}}
{{- define "amko.labelMap" -}}
{{- $label := default (dict) . -}}
{{- if and (eq (len $label) 2) (hasKey $label "key") (hasKey $label "value") -}}
{{- dict (toString $label.key) (toString $label.value) | toJson -}}
{{- else -}}
{{- $out := dict -}}
{{- range $k, $v := $label -}}
{{- $_ := set $out $k (toString $v) -}}
{{- end -}}
{{- $out | toJson -}}
{{- end -}}
{{- end -}}

{{/* configs.memberClusters as a JSON list of context names, without duplicates. */}}
{{- define "amko.settings.memberClusters" -}}
{{- $members := list -}}
{{- range (default (list) .Values.configs.memberClusters) -}}
{{- $name := include "amko.clusterName" . | trim -}}
{{- if and $name (not (has $name $members)) -}}
{{- $members = append $members $name -}}
{{- end -}}
{{- end -}}
{{- $members | toJson -}}
{{- end -}}

{{/* The leader controller address: configs.gslbLeaderController, then the documentation's typo. */}}
{{- define "amko.settings.controller" -}}
{{- $configs := default (dict) .Values.configs -}}
{{- $address := coalesce (get $configs "gslbLeaderController") (get $configs "gsllbLeaderController") | default "" | toString | trim -}}
{{- required "configs.gslbLeaderController is required: the IP address or host name of the Avi GSLB leader controller (--set configs.gslbLeaderController=<leader_controller_ip>)" $address -}}
{{- end -}}

{{/*
Federation settings. Each comes from the first non-empty of AMKO 2.x's federation.* (never set by
this chart's defaults, so only present when a user wrote it) and the documented
configs.federation.*. The federation set always contains the current cluster (AMKO refused to
start as leader when it did not).
*/}}
{{- define "amko.settings.federation" -}}
{{- $configs := default (dict) .Values.configs -}}
{{- $documented := default (dict) (get $configs "federation") -}}
{{- $legacy := default (dict) .Values.federation -}}
{{- $current := coalesce (get $legacy "currentCluster") (get $documented "currentCluster") | default "" | toString | trim -}}
{{- $current = required "configs.federation.currentCluster is required: this cluster's context name in the gslb-config-secret kubeconfig (--set configs.federation.currentCluster=<context>)" $current -}}
{{- $isLeader := coalesce (get $legacy "currentClusterIsLeader") (get $documented "currentClusterIsLeader") false -}}
{{- $clusters := list -}}
{{- range (coalesce (get $legacy "memberClusters") (get $documented "memberClusters") list) -}}
{{- $name := include "amko.clusterName" . | trim -}}
{{- if and $name (not (has $name $clusters)) -}}
{{- $clusters = append $clusters $name -}}
{{- end -}}
{{- end -}}
{{- if and $clusters (not (has $current $clusters)) -}}
{{- $clusters = prepend $clusters $current -}}
{{- end -}}
{{- $legacyImage := default (dict) (get $legacy "image") -}}
{{- $documentedImage := default (dict) (get $documented "image") -}}
{{- $repository := coalesce (get $legacyImage "repository") (get $documentedImage "repository") .Values.image.repository -}}
{{- $pullPolicy := coalesce (get $legacyImage "pullPolicy") (get $documentedImage "pullPolicy") .Values.image.pullPolicy -}}
{{- $image := printf "%s:%s" $repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- dict "currentCluster" $current "isLeader" (eq (toString $isLeader) "true") "clusters" $clusters "enabled" (gt (len $clusters) 0) "image" $image "pullPolicy" $pullPolicy | toJson -}}
{{- end -}}

{{/*
The GlobalDeploymentPolicy spec. Each field comes from the first non-empty of AMKO 2.x's
globalDeploymentPolicy.* and the documented gdpConfig.*. Empty parts are left out (AMKO rendered
`matchRules: null`, which the CRD rejects).
*/}}
{{- define "amko.settings.gdp" -}}
{{- $documented := default (dict) .Values.gdpConfig -}}
{{- $legacy := default (dict) .Values.globalDeploymentPolicy -}}
{{- $spec := dict -}}
{{- $matchRules := dict -}}
{{- range $selector := list "appSelector" "namespaceSelector" -}}
{{- $label := dict -}}
{{- range $source := list $legacy $documented -}}
{{- if not $label -}}
{{- $label = include "amko.labelMap" (get (default (dict) (get $source $selector)) "label") | fromJson -}}
{{- end -}}
{{- end -}}
{{- if $label -}}
{{- $_ := set $matchRules $selector (dict "label" $label) -}}
{{- end -}}
{{- end -}}
{{- if $matchRules -}}
{{- $_ := set $spec "matchRules" $matchRules -}}
{{- end -}}
{{- $members := include "amko.settings.memberClusters" $ | fromJsonArray -}}
{{- $field := ternary "globalDeploymentPolicy" "gdpConfig" (not (empty (get $legacy "matchClusters"))) -}}
{{- $matchClusters := list -}}
{{- $seen := list -}}
{{- range (coalesce (get $legacy "matchClusters") (get $documented "matchClusters") list) -}}
{{- $name := include "amko.clusterName" . | trim -}}
{{- if $name -}}
{{- if not (has $name $members) -}}
{{- fail (printf "%s.matchClusters: cluster %q is not one of configs.memberClusters %v" $field $name $members) -}}
{{- end -}}
{{- if has $name $seen -}}
{{- fail (printf "%s.matchClusters: cluster %q is listed twice" $field $name) -}}
{{- end -}}
{{- $seen = append $seen $name -}}
{{- $entry := dict "cluster" $name -}}
{{- if and (kindIs "map" .) (get . "syncVipOnly") -}}
{{- $_ := set $entry "syncVipOnly" true -}}
{{- end -}}
{{- $matchClusters = append $matchClusters $entry -}}
{{- end -}}
{{- end -}}
{{- if $matchClusters -}}
{{- $_ := set $spec "matchClusters" $matchClusters -}}
{{- end -}}
{{- $field = ternary "globalDeploymentPolicy" "gdpConfig" (not (empty (get $legacy "trafficSplit"))) -}}
{{- $split := list -}}
{{- $seen = list -}}
{{- range (coalesce (get $legacy "trafficSplit") (get $documented "trafficSplit") list) -}}
{{- $name := include "amko.clusterName" . | trim -}}
{{- if not (has $name $members) -}}
{{- fail (printf "%s.trafficSplit: cluster %q is not one of configs.memberClusters %v" $field $name $members) -}}
{{- end -}}
{{- if has $name $seen -}}
{{- fail (printf "%s.trafficSplit: cluster %q is listed twice" $field $name) -}}
{{- end -}}
{{- $seen = append $seen $name -}}
{{- $entry := dict "cluster" $name -}}
{{- if hasKey . "weight" -}}{{- $_ := set $entry "weight" (int (get . "weight")) -}}{{- end -}}
{{- if hasKey . "priority" -}}{{- $_ := set $entry "priority" (int (get . "priority")) -}}{{- end -}}
{{- $split = append $split $entry -}}
{{- end -}}
{{- if $split -}}
{{- $_ := set $spec "trafficSplit" $split -}}
{{- end -}}
{{- $ttl := coalesce (get $legacy "ttl") (get $documented "ttl") -}}
{{- if $ttl -}}
{{- $_ := set $spec "ttl" (int $ttl) -}}
{{- end -}}
{{- range $field := list "healthMonitorRefs" "healthMonitorTemplate" "sitePersistenceRef" "pkiProfileRef" "poolAlgorithmSettings" "downResponse" "controlPlaneHmOnly" "defaultDomain" -}}
{{- $value := coalesce (get $legacy $field) (get $documented $field) -}}
{{- if $value -}}
{{- $_ := set $spec $field $value -}}
{{- end -}}
{{- end -}}
{{- $spec | toJson -}}
{{- end -}}

{{/* Environment shared by `amko run` and `amko federate`. */}}
{{- define "amko.env" -}}
- name: GSLB_CONFIG
  valueFrom:
    secretKeyRef:
      name: gslb-config-secret
      key: gslb-members
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}
