variable "name" {
  description = "Prefix of the configuration set and the IAM user (<name>-ses-smtp), e.g. pingvas-prod."
  type        = string
}

variable "domain" {
  description = "Domain the studio's mail comes from (PINGVAS_MAIL_FROM's address is at it)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lower-case domain name such as studio.pingvas.example."
  }
}

variable "mail_from_subdomain" {
  description = "Label of the custom MAIL FROM domain (<label>.<domain>): bounces go there, and SPF is checked on it."
  type        = string
  default     = "mail"
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of the domain; null: no records are created, create the dns_records output at your DNS provider."
  type        = string
  default     = null
}
