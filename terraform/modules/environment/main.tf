# One environment (dev or prod): what belongs to it alone (Redis, media bucket + CloudFront, its
# secret, the IAM role of its namespace, its mail domain in SES, its alarms). The cluster, database, file system and WAF are
# the shared stack's, read from its state. envs/dev and envs/prod each call this module once and
# pass only what differs between them (the Redis shape, sizes, names, how long deleted data is
# kept), so a change here lands in both.

locals {
  name      = "${var.project}-${var.environment}"
  namespace = "pingvas-${var.environment}"
  shared    = data.terraform_remote_state.shared.outputs
}

data "terraform_remote_state" "shared" {
  backend = "s3"

  config = {
    bucket = var.state_bucket
    key    = var.shared_state_key
    region = var.state_region
  }
}

# dev: a single node, no replica, no failover (dev can lose its rate-limit counters).
# prod: a primary and a replica in another zone; ElastiCache promotes the replica if the primary
# fails and moves the primary endpoint with it (the app's URL stays the same).
module "redis" {
  source = "../redis"

  name                       = local.name
  vpc_id                     = local.shared.vpc_id
  subnet_ids                 = local.shared.private_subnet_ids
  allowed_security_group_ids = [local.shared.node_security_group_id]
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = var.redis_automatic_failover_enabled
  multi_az_enabled           = var.redis_multi_az_enabled
  snapshot_retention_days    = var.redis_snapshot_retention_days
}

module "media" {
  source = "../media"

  bucket_name          = var.media_bucket_name
  web_acl_arn          = local.shared.waf_cloudfront_web_acl_arn
  aliases              = var.media_aliases
  acm_certificate_arn  = var.media_acm_certificate_arn
  cors_allowed_origins = var.media_cors_allowed_origins
}

module "secrets" {
  source = "../secrets"

  name                    = "${var.project}/${var.environment}/app"
  environment             = var.environment
  recovery_window_in_days = var.secret_recovery_window_in_days
}

# The studio's mail (sign-up verification, password resets, invitations, notices) through SES SMTP.
module "ses" {
  source = "../ses"

  name            = local.name
  domain          = var.mail_domain
  route53_zone_id = var.mail_route53_zone_id
}

module "irsa" {
  source = "../irsa"

  name              = "${local.name}-app"
  oidc_provider_arn = local.shared.oidc_provider_arn
  oidc_issuer       = local.shared.oidc_issuer
  namespace         = local.namespace
  service_account   = "pingvas"
  bucket_arn        = module.media.bucket_arn
  secret_arn        = module.secrets.secret_arn
}

module "alarms" {
  source = "../alarms"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                  = local.name
  alarm_email_addresses = var.alarm_email_addresses

  redis = {
    member_cluster_ids    = module.redis.member_cluster_ids
    watch_replication_lag = var.redis_watch_replication_lag
  }

  cloudfront = {
    distribution_id = module.media.distribution_id
  }
}
