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
    condition     = output.efs_volume_handle == "fs-0123456789abcdef0::fsap-0dev"
    error_message = "dev mounts the models through its own access point"
  }

  assert {
    condition     = length(module.environment.redis_member_cluster_ids) == 1
    error_message = "dev Redis is a single node"
  }
}

run "mail_is_sent_through_ses_in_the_region" {
  command = plan

  assert {
    condition     = output.smtp_host == "email-smtp.eu-central-1.amazonaws.com"
    error_message = "the SMTP endpoint is SES's in the stack's region"
  }

  assert {
    condition     = output.smtp_user_name == "pingvas-dev-ses-smtp"
    error_message = "each environment has its own SMTP user"
  }

  assert {
    condition     = length(output.mail_dns_records) == 5
    error_message = "three DKIM CNAMEs, the MAIL FROM MX and its SPF record"
  }
}

# The ses module on its own, given a Route 53 zone: it creates every record it lists, DKIM
# included, and its SMTP user may send only from the domain's identity.
run "mail_records_are_created_in_a_given_zone" {
  command = apply

  module {
    source = "../../modules/ses"
  }

  variables {
    name            = "pingvas-dev"
    domain          = "dev.studio.pingvas.example"
    route53_zone_id = "Z0123456789EXAMPLE"
  }

  override_resource {
    target = aws_sesv2_email_identity.this
    values = {
      arn = "arn:aws:ses:eu-central-1:111122223333:identity/dev.studio.pingvas.example"
      dkim_signing_attributes = {
        tokens = ["tokena", "tokenb", "tokenc"]
      }
    }
  }

  assert {
    condition     = length(aws_route53_record.this) == 5
    error_message = "every DKIM and MAIL FROM record is in the zone"
  }

  assert {
    condition     = aws_route53_record.this[0].name == "tokena._domainkey.dev.studio.pingvas.example" && aws_route53_record.this[0].records == toset(["tokena.dkim.amazonses.com"])
    error_message = "DKIM CNAMEs point at SES's keys"
  }

  assert {
    condition     = aws_route53_record.this[4].name == "mail.dev.studio.pingvas.example" && aws_route53_record.this[4].records == toset(["v=spf1 include:amazonses.com ~all"])
    error_message = "the MAIL FROM domain's SPF allows SES"
  }

  assert {
    condition     = aws_sesv2_email_identity_mail_from_attributes.this.mail_from_domain == "mail.dev.studio.pingvas.example"
    error_message = "SES uses the custom MAIL FROM domain"
  }

  assert {
    condition     = aws_sesv2_email_identity.this.configuration_set_name == aws_sesv2_configuration_set.this.configuration_set_name
    error_message = "the identity sends through the configuration set that suppresses bounces and complaints"
  }
}

run "mail_without_a_zone_creates_no_records" {
  command = plan

  module {
    source = "../../modules/ses"
  }

  variables {
    name   = "pingvas-dev"
    domain = "dev.studio.pingvas.example"
  }

  assert {
    condition     = length(aws_route53_record.this) == 0
    error_message = "without a zone the records are left to the domain's DNS provider"
  }
}

run "a_mail_domain_that_is_not_a_domain_is_refused" {
  command = plan

  module {
    source = "../../modules/ses"
  }

  variables {
    name   = "pingvas-dev"
    domain = "https://dev.studio.pingvas.example"
  }

  expect_failures = [var.domain]
}
