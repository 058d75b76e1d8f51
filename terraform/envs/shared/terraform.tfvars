region  = "eu-central-1"
project = "pingvas"

vpc_cidr           = "10.40.0.0/16"
azs                = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
single_nat_gateway = false

# The VPN's public egress ranges: what the public EKS endpoint and the internet-facing ALB see
# (EKS refuses private ranges on its public endpoint). 198.51.100.0/24 is a documentation
# range: replace it.
vpn_cidrs = ["198.51.100.0/24"]

# The VPN's client range as routed into the VPC: the private EKS endpoint, and the admin API
# for requests that arrive from inside the VPC.
vpn_private_cidrs = ["10.100.0.0/16"]

# Operators' role (assumed from the VPN) and CI. Account 111122223333 is a placeholder.
admin_role_arns = ["arn:aws:iam::111122223333:role/pingvas-operators"]

kubernetes_version         = "1.31"
system_node_instance_types = ["m7g.large"]

aurora_min_capacity          = 0.5
aurora_max_capacity          = 16
aurora_instance_count        = 2
aurora_deletion_protection   = true
aurora_backup_retention_days = 14

waf_rate_limit        = 2000
alarm_email_addresses = []
