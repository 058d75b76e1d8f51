variable "region" {
  description = "AWS region of the stack (the shared stack's)."
  type        = string
  default     = "eu-central-1"
}

variable "project" {
  description = "Project name: the Project tag and the prefix of this environment's resources."
  type        = string
  default     = "pingvas"
}

variable "state_bucket" {
  description = "S3 bucket holding the Terraform states (the shared stack's backend bucket)."
  type        = string
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
  description = "Days a deleted secret can be restored."
  type        = number
  default     = 7
}

variable "alarm_email_addresses" {
  description = "Addresses notified of this environment's alarms."
  type        = list(string)
  default     = []
}
