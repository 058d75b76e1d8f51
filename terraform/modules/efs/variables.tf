variable "name" {
  description = "Name of the file system."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the mount targets."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one mount target each (one per zone)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups admitted on NFS (2049): the EKS nodes'."
  type        = list(string)
}

variable "environments" {
  description = "Environments that get a directory (/<env>) and an access point rooted there."
  type        = list(string)
  default     = ["dev", "prod"]
}

variable "posix_uid" {
  description = "UID every access of an access point is made as (the app container's user)."
  type        = number
  default     = 1000
}

variable "posix_gid" {
  description = "GID every access of an access point is made as."
  type        = number
  default     = 1000
}

variable "throughput_mode" {
  description = "bursting (earns burst credits; alarmed on), elastic or provisioned."
  type        = string
  default     = "bursting"

  validation {
    condition     = contains(["bursting", "elastic", "provisioned"], var.throughput_mode)
    error_message = "throughput_mode must be bursting, elastic or provisioned."
  }
}

variable "provisioned_throughput_in_mibps" {
  description = "Throughput when throughput_mode is provisioned."
  type        = number
  default     = null
}
