# What the Helm values of this environment need, forwarded from the environment module (whose
# outputs.tf describes each).

output "namespace" {
  value = module.environment.namespace
}

output "service_account_role_arn" {
  value = module.environment.service_account_role_arn
}

output "secret_name" {
  value = module.environment.secret_name
}

output "storage_url" {
  value = module.environment.storage_url
}

output "media_base_url" {
  value = module.environment.media_base_url
}

output "redis_url" {
  value = module.environment.redis_url
}

output "db_host" {
  value = module.environment.db_host
}

output "db_schema" {
  value = module.environment.db_schema
}

output "efs_volume_handle" {
  value = module.environment.efs_volume_handle
}

output "admin_allowed_cidrs" {
  value = module.environment.admin_allowed_cidrs
}

output "waf_regional_web_acl_arn" {
  value = module.environment.waf_regional_web_acl_arn
}

output "smtp_user_name" {
  value = module.environment.smtp_user_name
}

output "smtp_host" {
  value = module.environment.smtp_host
}

output "mail_dns_records" {
  value = module.environment.mail_dns_records
}
