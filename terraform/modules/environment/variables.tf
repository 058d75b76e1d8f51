# What tells dev and prod apart has no default: each environment's main.tf states it.

variable "environment" {
  description = "Name of the environment: the Environment tag, the namespace pingvas-<environment>, the Postgres schema and the key of its EFS access point in the shared stack."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*$", var.environment))
    error_message = "environment must be lower-case letters and digits (it names a namespace, a schema and a secret)."
  }
}

variable "project" {
  description = "Project name: the prefix of this environment's resources."
  type        = string
  default     = "pingvas"
}

variable "state_bucket" {
  description = "S3 bucket holding the Terraform states (the shared stack's backend bucket, as in backend.hcl)."
  type        = string
  default     = "pingvas-terraform-state"
}

variable "state_region" {
  description = "Region of the state bucket."
  type        = string
  default     = "eu-central-1"
}

variable "shared_state_key" {
  description = "Key of the shared stack's state in the bucket."
  type        = string
  default     = "envs/shared/terraform.tfstate"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes: 1 (a single primary) or more (a primary and replicas)."
  type        = number
}

variable "redis_automatic_failover_enabled" {
  description = "Promote a replica when the primary fails (needs redis_num_cache_clusters >= 2)."
  type        = bool
}

variable "redis_multi_az_enabled" {
  description = "Keep the replica in another availability zone (needs automatic failover)."
  type        = bool
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots; 0: none."
  type        = number
}

variable "redis_watch_replication_lag" {
  description = "Alarm on the replicas' replication lag (only meaningful with replicas)."
  type        = bool
}

variable "media_bucket_name" {
  description = "Name of the media bucket (globally unique)."
  type        = string
}

variable "media_aliases" {
  description = "Custom domains of the media distribution (need media_acm_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "media_acm_certificate_arn" {
  description = "ACM certificate (us-east-1) of the media aliases."
  type        = string
  default     = null
}

variable "media_cors_allowed_origins" {
  description = "The studio's origins, allowed to read media cross-origin."
  type        = list(string)
  default     = []
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0: deleted at once)."
  type        = number
}

variable "mail_domain" {
  description = "Domain the environment's mail comes from: its SES identity (PINGVAS_MAIL_FROM's address is at it)."
  type        = string
}

variable "mail_route53_zone_id" {
  description = "Route 53 hosted zone of mail_domain; null: create the mail_dns_records output at the domain's DNS provider."
  type        = string
  default     = null
}

variable "alarm_email_addresses" {
  description = "Addresses notified of this environment's alarms."
  type        = list(string)
  default     = []
}
