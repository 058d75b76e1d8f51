# The dev environment: one call of modules/environment, with what sets dev apart. Everything
# both environments have in common (and the reading of the shared stack's state) is in the module.
# Custom media domains (media_aliases + media_acm_certificate_arn), the studio's CORS origins
# (media_cors_allowed_origins), the Route 53 zone of the mail domain (mail_route53_zone_id) and
# alarm_email_addresses are further inputs of the module: add them here (see
# modules/environment/variables.tf).

locals {
  environment = "dev"
}

module "environment" {
  source = "../../modules/environment"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  environment = local.environment
  project     = var.project

  # A single Redis node: no replica, no failover, no snapshots (dev can lose its rate-limit
  # counters).
  redis_node_type                  = "cache.t4g.micro"
  redis_num_cache_clusters         = 1
  redis_automatic_failover_enabled = false
  redis_multi_az_enabled           = false
  redis_snapshot_retention_days    = 0
  redis_watch_replication_lag      = false

  media_bucket_name = "pingvas-dev-media"

  # The SES identity the studio's mail comes from (the ingress host's domain).
  mail_domain = "dev.studio.pingvas.example"

  # A deleted secret is gone at once.
  secret_recovery_window_in_days = 0
}

# Before the module existed these were called from this root directly: the moved blocks carry the
# resources in existing state to their new addresses instead of replacing them.
moved {
  from = module.redis
  to   = module.environment.module.redis
}

moved {
  from = module.media
  to   = module.environment.module.media
}

moved {
  from = module.secrets
  to   = module.environment.module.secrets
}

moved {
  from = module.irsa
  to   = module.environment.module.irsa
}

moved {
  from = module.alarms
  to   = module.environment.module.alarms
}
