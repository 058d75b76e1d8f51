variable "name" {
  description = "Replication group ID (1-40 lowercase characters)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups admitted on 6379 (the EKS nodes'); nothing else reaches Redis."
  type        = list(string)
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "engine_version" {
  description = "Redis OSS version."
  type        = string
  default     = "7.1"
}

variable "num_cache_clusters" {
  description = "Nodes: 1 is a standalone node, 2+ is a primary with replicas."
  type        = number

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be between 1 and 6."
  }
}

variable "automatic_failover_enabled" {
  description = "Promote a replica when the primary fails (the primary endpoint follows it)."
  type        = bool

  validation {
    condition     = !var.automatic_failover_enabled || var.num_cache_clusters >= 2
    error_message = "Automatic failover needs a replica: num_cache_clusters >= 2."
  }
}

variable "multi_az_enabled" {
  description = "Keep the replicas in other zones than the primary."
  type        = bool
  default     = false

  validation {
    condition     = !var.multi_az_enabled || var.automatic_failover_enabled
    error_message = "Multi-AZ needs automatic_failover_enabled."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots (0: none)."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Retention of the slow-log log group."
  type        = number
  default     = 30
}
