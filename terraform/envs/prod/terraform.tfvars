region  = "eu-central-1"
project = "pingvas"

state_bucket     = "pingvas-terraform-state"
state_region     = "eu-central-1"
shared_state_key = "envs/shared/terraform.tfstate"

redis_node_type = "cache.m7g.large"

media_bucket_name          = "pingvas-prod-media"
media_aliases              = []
media_cors_allowed_origins = []

secret_recovery_window_in_days = 30
alarm_email_addresses          = []
