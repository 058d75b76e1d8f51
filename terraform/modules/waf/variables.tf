variable "name" {
  description = "Name of the web ACL (and of its IP set, metrics and log group)."
  type        = string
}

variable "scope" {
  description = "REGIONAL (the ALB of the ingress) or CLOUDFRONT (then the provider passed in must be us-east-1)."
  type        = string

  validation {
    condition     = contains(["REGIONAL", "CLOUDFRONT"], var.scope)
    error_message = "scope must be REGIONAL or CLOUDFRONT."
  }
}

variable "vpn_cidrs" {
  description = "The operators' VPN networks (IPv4): the only sources the admin API answers."
  type        = list(string)

  validation {
    condition     = length(var.vpn_cidrs) > 0 && alltrue([for c in var.vpn_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "vpn_cidrs must be a non-empty list of IPv4 CIDRs, and never 0.0.0.0/0."
  }
}

variable "admin_path_prefix" {
  description = "Path prefix of the operator API."
  type        = string
  default     = "/api/v1/admin"
}

variable "rate_limit" {
  description = "Requests one IP may make in 5 minutes before it is blocked."
  type        = number
  default     = 2000
}

variable "common_rule_set_count_overrides" {
  description = "Rules of AWSManagedRulesCommonRuleSet that only count (uploads of images and workflows exceed the 8 KB body limit)."
  type        = list(string)
  default     = ["SizeRestrictions_BODY"]
}

variable "log_retention_days" {
  description = "Retention of the WAF log group."
  type        = number
  default     = 30
}
