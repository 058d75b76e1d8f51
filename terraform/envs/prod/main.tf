# The prod environment: one call of modules/environment, with what sets prod apart. Everything
# both environments have in common (and the reading of the shared stack's state) is in the module.
# Custom media domains (media_aliases + media_acm_certificate_arn), the studio's CORS origins
# (media_cors_allowed_origins), the Route 53 zone of the mail domain (mail_route53_zone_id) and
# alarm_email_addresses are further inputs of the module: add them here (see
# modules/environment/variables.tf).

locals {
  environment = "prod"
}

module "environment" {
  source = "../../modules/environment"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  environment = local.environment
  project     = var.project

  # A primary and a replica in another zone with automatic failover, a week of snapshots, and an
  # alarm on the replica's lag.
  redis_node_type                  = "cache.m7g.large"
  redis_num_cache_clusters         = 2
  redis_automatic_failover_enabled = true
  redis_multi_az_enabled           = true
  redis_snapshot_retention_days    = 7
  redis_watch_replication_lag      = true

  media_bucket_name = "pingvas-prod-media"

  # The SES identity the studio's mail comes from (the ingress host's domain).
  mail_domain = "studio.pingvas.example"

  # A deleted secret can be restored for 30 days.
  secret_recovery_window_in_days = 30
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
