variable "cluster_name" {
  description = "EKS cluster Karpenter provisions nodes for (also the interruption queue's name)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the EKS cluster (the controller may describe it to discover the API endpoint)."
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
  description = "Namespace the Karpenter Helm release runs in."
  type        = string
  default     = "kube-system"
}

variable "service_account" {
  description = "Service account of the Karpenter controller."
  type        = string
  default     = "karpenter"
}

variable "create_spot_service_linked_role" {
  description = "Create the EC2 Spot service-linked role (once per account; false where it already exists)."
  type        = bool
  default     = false
}
