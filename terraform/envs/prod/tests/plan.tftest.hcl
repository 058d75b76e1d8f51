mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-central-1" }
  }
}

mock_provider "aws" {
  alias = "us_east_1"
}

override_data {
  target = module.environment.data.terraform_remote_state.shared
  values = {
    outputs = {
      vpc_id                     = "vpc-0123456789abcdef0"
      private_subnet_ids         = ["subnet-0a", "subnet-0b", "subnet-0c"]
      node_security_group_id     = "sg-0123456789abcdef0"
      oidc_provider_arn          = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE"
      oidc_issuer                = "oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE"
      waf_cloudfront_web_acl_arn = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/pingvas-cloudfront/example"
      waf_regional_web_acl_arn   = "arn:aws:wafv2:eu-central-1:111122223333:regional/webacl/pingvas-regional/example"
      aurora_endpoint            = "pingvas.cluster-example.eu-central-1.rds.amazonaws.com"
      efs_file_system_id         = "fs-0123456789abcdef0"
      efs_access_point_ids       = { dev = "fsap-0dev", prod = "fsap-0prod" }
      vpn_cidrs                  = ["198.51.100.0/24"]
      admin_allowed_cidrs        = ["198.51.100.0/24", "10.100.0.0/16"]
    }
  }
}

run "plan" {
  command = plan

  assert {
    condition     = output.efs_volume_handle == "fs-0123456789abcdef0::fsap-0prod"
    error_message = "prod mounts the models through its own access point"
  }

  assert {
    condition     = length(module.environment.redis_member_cluster_ids) == 2
    error_message = "prod Redis is a primary and a replica"
  }

  assert {
    condition     = output.smtp_user_name == "pingvas-prod-ses-smtp" && output.smtp_host == "email-smtp.eu-central-1.amazonaws.com"
    error_message = "prod sends through its own SMTP user at SES in the stack's region"
  }
}
