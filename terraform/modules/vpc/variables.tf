variable "name" {
  description = "Name prefix of the VPC and everything in it."
  type        = string
}

variable "cidr" {
  description = "The VPC's IPv4 range, a /16: public /24s and private /19s are cut from it."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && endswith(var.cidr, "/16")
    error_message = "cidr must be an IPv4 /16 (the subnet layout assumes it)."
  }
}

variable "azs" {
  description = "Availability zones to spread the subnets over (2 or 3)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 3
    error_message = "Use 2 or 3 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (survives a zone outage)."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "EKS cluster that uses the subnets: private subnets get the Karpenter discovery tag and the internal-ELB role."
  type        = string
}
