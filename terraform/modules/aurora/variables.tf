variable "name" {
  description = "Identifier of the Aurora cluster (and prefix of its subnet group, security group, parameter group)."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL version."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups admitted on 5432 (the EKS nodes'); nothing else reaches the database."
  type        = list(string)
}

variable "database_name" {
  description = "The database; dev and prod are schemas in it (PINGVAS_DB_SCHEMA), created by the app's migrations."
  type        = string
  default     = "pingvas"
}

variable "master_username" {
  description = "Master user; its password is generated and rotated by RDS in Secrets Manager (never in Terraform)."
  type        = string
  default     = "pingvas_admin"
}

variable "instance_count" {
  description = "Serverless v2 instances: 1 writer plus readers (2+ gives a failover target in another zone)."
  type        = number
  default     = 2
}

variable "min_capacity" {
  description = "Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
}

variable "max_capacity" {
  description = "Serverless v2 maximum ACUs."
  type        = number
  default     = 16
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "preferred_backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "01:00-02:00"
}

variable "preferred_maintenance_window" {
  description = "Weekly maintenance window (UTC)."
  type        = string
  default     = "sun:02:30-sun:03:30"
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention (7 is the free tier)."
  type        = number
  default     = 7
}

variable "monitoring_interval" {
  description = "Enhanced monitoring interval in seconds (0 turns it off)."
  type        = number
  default     = 60
}

variable "kms_key_id" {
  description = "KMS key for storage encryption; null uses the account's aws/rds key."
  type        = string
  default     = null
}
