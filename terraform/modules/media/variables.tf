variable "bucket_name" {
  description = "Name of the environment's media bucket (globally unique)."
  type        = string
}

variable "web_acl_arn" {
  description = "ARN of the CLOUDFRONT-scope WAF web ACL (created in us-east-1) that guards the distribution."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "aliases" {
  description = "Custom domain names of the distribution (need acm_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 for the aliases; null serves *.cloudfront.net."
  type        = string
  default     = null

  validation {
    condition     = var.acm_certificate_arn != null || length(var.aliases) == 0
    error_message = "aliases need an acm_certificate_arn."
  }
}

variable "cors_allowed_origins" {
  description = "Origins allowed to read media cross-origin (the studio's own origin, for canvas use); empty: no CORS headers."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_expiration_days" {
  description = "Days a deleted or overwritten object stays recoverable."
  type        = number
  default     = 30
}
