# The prod environment: what belongs to it alone (Redis, media bucket + CloudFront, its secret,
# the IAM role of its namespace, its alarms). The cluster, database, file system and WAF are the
# shared stack's, read from its state.

locals {
  environment = "prod"
  name        = "${var.project}-${local.environment}"
  namespace   = "pingvas-${local.environment}"
  shared      = data.terraform_remote_state.shared.outputs
}

data "terraform_remote_state" "shared" {
  backend = "s3"

  config = {
    bucket = var.state_bucket
    key    = var.shared_state_key
    region = var.state_region
  }
}

# A primary and a replica in another zone; ElastiCache promotes the replica if the primary
# fails and moves the primary endpoint with it (the app's URL stays the same).
module "redis" {
  source = "../../modules/redis"

  name                       = local.name
  vpc_id                     = local.shared.vpc_id
  subnet_ids                 = local.shared.private_subnet_ids
  allowed_security_group_ids = [local.shared.node_security_group_id]
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  snapshot_retention_days    = 7
}

module "media" {
  source = "../../modules/media"

  bucket_name          = var.media_bucket_name
  web_acl_arn          = local.shared.waf_cloudfront_web_acl_arn
  aliases              = var.media_aliases
  acm_certificate_arn  = var.media_acm_certificate_arn
  cors_allowed_origins = var.media_cors_allowed_origins
}

module "secrets" {
  source = "../../modules/secrets"

  name                    = "${var.project}/${local.environment}/app"
  environment             = local.environment
  recovery_window_in_days = var.secret_recovery_window_in_days
}

module "irsa" {
  source = "../../modules/irsa"

  name              = "${local.name}-app"
  oidc_provider_arn = local.shared.oidc_provider_arn
  oidc_issuer       = local.shared.oidc_issuer
  namespace         = local.namespace
  service_account   = "pingvas"
  bucket_arn        = module.media.bucket_arn
  secret_arn        = module.secrets.secret_arn
}

module "alarms" {
  source = "../../modules/alarms"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                  = local.name
  alarm_email_addresses = var.alarm_email_addresses

  redis = {
    member_cluster_ids    = module.redis.member_cluster_ids
    watch_replication_lag = true
  }

  cloudfront = {
    distribution_id = module.media.distribution_id
  }
}
