variable "name" {
  description = "Prefix of the alarms and of the SNS topics (e.g. pingvas-prod)."
  type        = string
}

variable "alarm_email_addresses" {
  description = "Addresses subscribed to the alarm topics (each confirms by mail)."
  type        = list(string)
  default     = []
}

variable "aurora" {
  description = "Aurora cluster to watch; null: none."
  type = object({
    cluster_identifier         = string
    cpu_percent                = optional(number, 80)
    freeable_memory_bytes      = optional(number, 268435456)
    max_database_connections   = optional(number, 800)
    evaluation_periods_minutes = optional(number, 15)
  })
  default = null
}

variable "redis" {
  description = "ElastiCache replication group to watch (node IDs as the redis module outputs them); null: none."
  type = object({
    member_cluster_ids      = list(string)
    engine_cpu_percent      = optional(number, 80)
    evictions_per_5_minutes = optional(number, 100)
    replication_lag_seconds = optional(number, 5)
    watch_replication_lag   = optional(bool, false)
  })
  default = null
}

variable "cloudfront" {
  description = "CloudFront distribution to watch; null: none."
  type = object({
    distribution_id   = string
    error_5xx_percent = optional(number, 5)
  })
  default = null
}

variable "waf" {
  description = "Web ACLs whose blocked requests are watched for a spike; either name may be null."
  type = object({
    regional_web_acl_name   = optional(string)
    cloudfront_web_acl_name = optional(string)
    blocked_per_5_minutes   = optional(number, 1000)
  })
  default = null
}

variable "efs" {
  description = "EFS file system (bursting throughput) whose burst credits are watched; null: none."
  type = object({
    file_system_id         = string
    min_burst_credit_bytes = optional(number, 1099511627776)
  })
  default = null
}
