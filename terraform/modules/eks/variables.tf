variable "name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and the system node group."
  type        = string
  default     = "1.31"
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the system node group."
  type        = list(string)
}

variable "vpn_cidrs" {
  description = "The operators' VPN egress networks: the only sources the public API endpoint answers."
  type        = list(string)

  validation {
    condition     = length(var.vpn_cidrs) > 0 && alltrue([for c in var.vpn_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "vpn_cidrs must be a non-empty list of CIDRs, and never 0.0.0.0/0."
  }

  # A public endpoint only ever sees public source addresses (and EKS refuses private ones).
  validation {
    condition     = alltrue([for c in var.vpn_cidrs : !can(regex("^(10\\.|192\\.168\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)", c))])
    error_message = "vpn_cidrs must be the VPN's public egress ranges, not private (RFC 1918) ones."
  }
}

variable "vpn_private_cidrs" {
  description = "The VPN's client ranges routed into the VPC: admitted on 443 to the private API endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.vpn_private_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "vpn_private_cidrs must be CIDRs, and never 0.0.0.0/0."
  }
}

variable "admin_role_arns" {
  description = "IAM roles (operators, CI) granted cluster-admin through EKS access entries."
  type        = list(string)

  validation {
    condition     = length(var.admin_role_arns) > 0 && alltrue([for a in var.admin_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "admin_role_arns must name at least one IAM role ARN (nobody else can reach the cluster)."
  }
}

variable "cluster_log_types" {
  description = "Control-plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

variable "log_retention_days" {
  description = "Retention of the control-plane log group."
  type        = number
  default     = 90
}

variable "system_node_instance_types" {
  description = "Graviton (arm64) instance types of the managed node group that runs system pods and Karpenter."
  type        = list(string)
  default     = ["m7g.large"]
}

variable "system_node_min_size" {
  description = "Minimum nodes in the system node group."
  type        = number
  default     = 2
}

variable "system_node_desired_size" {
  description = "Initial nodes in the system node group (later left to whoever scales it)."
  type        = number
  default     = 2
}

variable "system_node_max_size" {
  description = "Maximum nodes in the system node group."
  type        = number
  default     = 3
}

variable "enable_efs_csi_driver" {
  description = "Install the EFS CSI driver add-on (the model volume's access points are mounted through it)."
  type        = bool
  default     = true
}
