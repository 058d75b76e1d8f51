# What dev and prod share: the network, the EKS cluster (each environment is a namespace),
# Karpenter's IAM, the Aurora cluster (each environment a schema), the models file system
# (each environment a directory), and the WAF web ACLs. dev and prod read the outputs below
# through `terraform_remote_state`.

locals {
  name = var.project

  # Where the operator API may be called from: the VPN's egress ranges (through the internet-facing
  # ALB) and its client ranges (a request that arrives from inside the VPC).
  admin_allowed_cidrs = distinct(concat(var.vpn_cidrs, var.vpn_private_cidrs))
}

module "vpc" {
  source = "../../modules/vpc"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway
  cluster_name       = local.name
}

module "eks" {
  source = "../../modules/eks"

  name                       = local.name
  kubernetes_version         = var.kubernetes_version
  subnet_ids                 = module.vpc.private_subnet_ids
  vpn_cidrs                  = var.vpn_cidrs
  vpn_private_cidrs          = var.vpn_private_cidrs
  admin_role_arns            = var.admin_role_arns
  system_node_instance_types = var.system_node_instance_types
}

module "karpenter" {
  source = "../../modules/karpenter"

  cluster_name      = module.eks.cluster_name
  cluster_arn       = module.eks.cluster_arn
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
}

module "aurora" {
  source = "../../modules/aurora"

  name                       = local.name
  engine_version             = "17.4"
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  instance_count             = var.aurora_instance_count
  min_capacity               = var.aurora_min_capacity
  max_capacity               = var.aurora_max_capacity
  deletion_protection        = var.aurora_deletion_protection
  backup_retention_days      = var.aurora_backup_retention_days
}

module "efs" {
  source = "../../modules/efs"

  name                       = "${local.name}-models"
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  environments               = ["dev", "prod"]
}

# The ingress ALB's web ACL (the studio and its API, both environments).
module "waf_regional" {
  source = "../../modules/waf"

  name       = "${local.name}-regional"
  scope      = "REGIONAL"
  vpn_cidrs  = local.admin_allowed_cidrs
  rate_limit = var.waf_rate_limit
}

# The media distributions' web ACL: CLOUDFRONT scope exists only in us-east-1.
module "waf_cloudfront" {
  source = "../../modules/waf"
  providers = {
    aws = aws.us_east_1
  }

  name       = "${local.name}-cloudfront"
  scope      = "CLOUDFRONT"
  vpn_cidrs  = local.admin_allowed_cidrs
  rate_limit = var.waf_rate_limit
}

module "alarms" {
  source = "../../modules/alarms"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                  = "${local.name}-shared"
  alarm_email_addresses = var.alarm_email_addresses

  aurora = {
    cluster_identifier = module.aurora.cluster_identifier
  }

  efs = {
    file_system_id = module.efs.file_system_id
  }

  waf = {
    regional_web_acl_name   = module.waf_regional.web_acl_name
    cloudfront_web_acl_name = module.waf_cloudfront.web_acl_name
  }
}
