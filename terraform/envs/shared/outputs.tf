output "region" {
  description = "Region of the stack."
  value       = var.region
}

output "vpn_cidrs" {
  description = "The VPN's public egress ranges (the EKS public endpoint's only sources)."
  value       = var.vpn_cidrs
}

output "admin_allowed_cidrs" {
  description = "Networks the operator API answers (the WAF rule; PINGVAS_ADMIN_ALLOWED_CIDRS, comma-joined)."
  value       = local.admin_allowed_cidrs
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnets (Redis subnet groups of dev and prod)."
  value       = module.vpc.private_subnet_ids
}

output "nat_public_ips" {
  description = "Egress addresses of the cluster."
  value       = module.vpc.nat_public_ips
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the API endpoint."
  value       = module.eks.cluster_certificate_authority_data
}

output "node_security_group_id" {
  description = "Security group of every EKS node: the one source Aurora, Redis and EFS admit."
  value       = module.eks.cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  value       = module.eks.oidc_provider_arn
}

output "oidc_issuer" {
  description = "OIDC issuer without the scheme."
  value       = module.eks.oidc_issuer
}

output "karpenter_controller_role_arn" {
  description = "IRSA role of the Karpenter controller."
  value       = module.karpenter.controller_role_arn
}

output "karpenter_node_role_name" {
  description = "Role of Karpenter's nodes (EC2NodeClass spec.role)."
  value       = module.karpenter.node_role_name
}

output "karpenter_interruption_queue_name" {
  description = "Karpenter's interruption queue."
  value       = module.karpenter.interruption_queue_name
}

output "aurora_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.aurora.endpoint
}

output "aurora_reader_endpoint" {
  description = "Aurora reader endpoint."
  value       = module.aurora.reader_endpoint
}

output "aurora_port" {
  description = "Aurora port."
  value       = module.aurora.port
}

output "aurora_database_name" {
  description = "The database; dev and prod are its schemas."
  value       = module.aurora.database_name
}

output "aurora_master_user_secret_arn" {
  description = "RDS-managed secret of the master user (for the bootstrap that creates the app role)."
  value       = module.aurora.master_user_secret_arn
}

output "efs_file_system_id" {
  description = "The models file system."
  value       = module.efs.file_system_id
}

output "efs_access_point_ids" {
  description = "Access point per environment (/dev, /prod)."
  value       = module.efs.access_point_ids
}

output "waf_regional_web_acl_arn" {
  description = "Web ACL of the ingress ALB (annotation alb.ingress.kubernetes.io/wafv2-acl-arn)."
  value       = module.waf_regional.web_acl_arn
}

output "waf_cloudfront_web_acl_arn" {
  description = "Web ACL of the media distributions (us-east-1)."
  value       = module.waf_cloudfront.web_acl_arn
}
