variable "name" {
  description = "Name of the secret, e.g. pingvas/prod/app."
  type        = string
}

variable "environment" {
  description = "Environment the secret belongs to (dev or prod)."
  type        = string
}

variable "keys" {
  description = "Keys of the JSON document the secret holds: the app's PINGVAS_* secret settings and KEDA's queue DSN (the keys the Helm chart's ExternalSecrets read)."
  type        = list(string)
  default = [
    "PINGVAS_DATABASE_URL",
    "PINGVAS_REDIS_URL",
    "PINGVAS_LEMONSQUEEZY_API_KEY",
    "PINGVAS_LEMONSQUEEZY_STORE_ID",
    "PINGVAS_LEMONSQUEEZY_WEBHOOK_SECRET",
    "PINGVAS_GEMINI_API_KEY",
    "PINGVAS_SMTP_URL",
    "PINGVAS_JWT_SECRET",
    "KEDA_QUEUE_DSN",
  ]
}

variable "create_placeholder_version" {
  description = "Write a first version with every key empty, so that External Secrets finds the keys; the values are filled in outside Terraform."
  type        = bool
  default     = true
}

variable "kms_key_id" {
  description = "KMS key encrypting the secret; null uses the account's aws/secretsmanager key."
  type        = string
  default     = null
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 7
}
