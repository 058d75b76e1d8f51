{{- define "pingvas.name" -}}pingvas{{- end }}

{{- define "pingvas.labels" -}}
app.kubernetes.io/name: pingvas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
pingvas.io/environment: {{ .Values.environment }}
{{- end }}

{{- define "pingvas.selector" -}}
app.kubernetes.io/name: pingvas
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The settings' ConfigMap data (the release's and the migration hook's): values.settings, and the public URL
of the links in e-mails from the ingress host unless settings sets it. */}}
{{- define "pingvas.settingsData" -}}
{{- $settings := merge (dict) .Values.settings (dict "PINGVAS_PUBLIC_URL" (printf "https://%s" .Values.ingress.host)) }}
{{- range $key, $value := $settings }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Settings (ConfigMap) and secrets (External Secrets' Secret) as the environment of every role. */}}
{{- define "pingvas.env" -}}
envFrom:
  - configMapRef:
      name: {{ .Release.Name }}-settings
  - secretRef:
      name: {{ .Release.Name }}-secrets
{{- end }}

{{- define "pingvas.modelsVolume" -}}
- name: models
  persistentVolumeClaim:
    claimName: {{ .Release.Name }}-models
{{- end }}

{{- define "pingvas.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{- define "pingvas.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: ["ALL"]
{{- end }}
