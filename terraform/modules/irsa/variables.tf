variable "name" {
  description = "Name of the IAM role."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer without the scheme."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the environment (pingvas-dev, pingvas-prod)."
  type        = string
}

variable "service_account" {
  description = "Service account the app's pods (and the namespace's External Secrets SecretStore) use."
  type        = string
  default     = "pingvas"
}

variable "bucket_arn" {
  description = "ARN of the environment's media bucket: the only bucket the role reaches."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the environment's secret: the only secret the role reads."
  type        = string
}

variable "secret_kms_key_arn" {
  description = "Customer-managed KMS key of the secret, if any (null: the aws/secretsmanager key)."
  type        = string
  default     = null
}
