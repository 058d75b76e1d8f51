# What the Helm values and the environment's secret need (envs/dev and envs/prod forward these under the same
# names), and the Redis node IDs its plan test checks.

output "namespace" {
  description = "Kubernetes namespace of the environment."
  value       = local.namespace
}

output "service_account_role_arn" {
  description = "Annotation eks.amazonaws.com/role-arn of the `pingvas` service account."
  value       = module.irsa.role_arn
}

output "secret_name" {
  description = "Secrets Manager secret the ExternalSecret reads."
  value       = module.secrets.secret_name
}

output "storage_url" {
  description = "PINGVAS_STORAGE_URL."
  value       = "s3://${module.media.bucket_name}"
}

output "media_base_url" {
  description = "PINGVAS_MEDIA_BASE_URL."
  value       = module.media.media_base_url
}

output "redis_url" {
  description = "PINGVAS_REDIS_URL (no credentials): put it into the secret."
  value       = module.redis.url
}

output "redis_member_cluster_ids" {
  description = "IDs of the Redis nodes (one per cache cluster)."
  value       = module.redis.member_cluster_ids
}

output "db_host" {
  description = "Aurora writer endpoint (host of PINGVAS_DATABASE_URL)."
  value       = local.shared.aurora_endpoint
}

output "db_schema" {
  description = "PINGVAS_DB_SCHEMA."
  value       = var.environment
}

output "efs_volume_handle" {
  description = "volumeHandle of the models PersistentVolume: the file system through this environment's access point."
  value       = "${local.shared.efs_file_system_id}::${local.shared.efs_access_point_ids[var.environment]}"
}

output "admin_allowed_cidrs" {
  description = "PINGVAS_ADMIN_ALLOWED_CIDRS (the VPN networks, as the WAF admin rule has them)."
  value       = join(",", local.shared.admin_allowed_cidrs)
}

output "waf_regional_web_acl_arn" {
  description = "Annotation alb.ingress.kubernetes.io/wafv2-acl-arn of the ingress."
  value       = local.shared.waf_regional_web_acl_arn
}

output "smtp_user_name" {
  description = "IAM user whose access key, converted to an SMTP password, goes into PINGVAS_SMTP_URL in the secret."
  value       = module.ses.smtp_user_name
}

output "smtp_host" {
  description = "Host of PINGVAS_SMTP_URL (smtps://<key id>:<smtp password>@<host>:465)."
  value       = module.ses.smtp_host
}

output "mail_dns_records" {
  description = "DKIM and MAIL FROM records of mail_domain (created in Route 53 only with mail_route53_zone_id)."
  value       = module.ses.dns_records
}
