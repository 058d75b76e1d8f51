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
