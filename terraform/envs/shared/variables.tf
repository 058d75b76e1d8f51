variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-central-1"
}

variable "project" {
  description = "Project name: the Project tag and the prefix of shared resources."
  type        = string
  default     = "pingvas"
}

variable "vpc_cidr" {
  description = "The VPC's /16."
  type        = string
  default     = "10.40.0.0/16"
}

variable "azs" {
  description = "Availability zones of the subnets."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (prod runs on this VPC: keep false)."
  type        = bool
  default     = false
}

variable "vpn_cidrs" {
  description = "The operators' VPN networks as AWS sees them (public egress ranges): the only sources of the public EKS API endpoint, and (with vpn_private_cidrs) of /api/v1/admin/* through the WAF."
  type        = list(string)

  validation {
    condition     = length(var.vpn_cidrs) > 0 && alltrue([for c in var.vpn_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "vpn_cidrs must be a non-empty list of CIDRs, and never 0.0.0.0/0."
  }

  # A public endpoint only ever sees public source addresses (and EKS refuses private ones).
  validation {
    condition     = alltrue([for c in var.vpn_cidrs : !can(regex("^(10\\.|192\\.168\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)", c))])
    error_message = "vpn_cidrs must be the VPN's public egress ranges; private (RFC 1918) client ranges go into vpn_private_cidrs."
  }
}

variable "vpn_private_cidrs" {
  description = "The VPN's client ranges as seen inside the VPC (routed into it): admitted to the private EKS API endpoint, and to the admin API where a request arrives from them."
  type        = list(string)
  default     = []
}

variable "admin_role_arns" {
  description = "IAM roles granted cluster-admin on EKS (operators behind the VPN, CI)."
  type        = list(string)
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "system_node_instance_types" {
  description = "Graviton instance types of the system node group."
  type        = list(string)
  default     = ["m7g.large"]
}

variable "aurora_min_capacity" {
  description = "Aurora Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
}

variable "aurora_max_capacity" {
  description = "Aurora Serverless v2 maximum ACUs."
  type        = number
  default     = 16
}

variable "aurora_instance_count" {
  description = "Aurora instances (writer + readers)."
  type        = number
  default     = 2
}

variable "aurora_deletion_protection" {
  description = "Deletion protection of the Aurora cluster (it holds prod)."
  type        = bool
  default     = true
}

variable "aurora_backup_retention_days" {
  description = "Aurora automated backup retention."
  type        = number
  default     = 14
}

variable "waf_rate_limit" {
  description = "Requests per IP per 5 minutes before the WAF blocks it."
  type        = number
  default     = 2000
}

variable "alarm_email_addresses" {
  description = "Addresses notified of the shared stack's alarms."
  type        = list(string)
  default     = []
}
