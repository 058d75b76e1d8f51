region  = "eu-central-1"
project = "pingvas"

state_bucket     = "pingvas-terraform-state"
state_region     = "eu-central-1"
shared_state_key = "envs/shared/terraform.tfstate"

redis_node_type = "cache.t4g.micro"

media_bucket_name          = "pingvas-dev-media"
media_aliases              = []
media_cors_allowed_origins = []

secret_recovery_window_in_days = 0
alarm_email_addresses          = []
