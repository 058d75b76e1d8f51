# terraform -chdir=terraform/envs/dev init -backend-config=backend.hcl
# (use_lockfile: S3-native state locking, Terraform >= 1.10)
bucket       = "pingvas-terraform-state"
key          = "envs/dev/terraform.tfstate"
region       = "eu-central-1"
encrypt      = true
use_lockfile = true
