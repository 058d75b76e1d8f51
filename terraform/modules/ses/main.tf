# The environment's mail through Amazon SES: the domain identity (Easy DKIM, 2048-bit keys), a
# custom MAIL FROM subdomain (so SPF aligns with the domain), a configuration set that drops
# addresses which bounced or complained, the DNS records when the domain's Route 53 zone is given,
# and the IAM user whose key the app signs in to SES's SMTP endpoint with.
#
# The user's access key is NOT created here: its secret (and the SMTP password derived from it)
# would be written to the Terraform state, which holds no secret of this project. An operator
# creates the key and stores `smtps://…` as PINGVAS_SMTP_URL in the environment's secret
# (docs/infrastructure/mail.md). The user may send raw mail from this identity and nothing else.

data "aws_region" "current" {}

locals {
  mail_from_domain = "${var.mail_from_subdomain}.${var.domain}"
  dkim_tokens      = aws_sesv2_email_identity.this.dkim_signing_attributes[0].tokens

  # Easy DKIM always gives three tokens; counting them here keeps the list's length known at plan.
  dns_records = concat(
    [for i in range(3) : {
      name  = "${local.dkim_tokens[i]}._domainkey.${var.domain}"
      type  = "CNAME"
      value = "${local.dkim_tokens[i]}.dkim.amazonses.com"
    }],
    [
      # Bounces and complaints come back to SES through the MAIL FROM domain; SPF is checked on it.
      {
        name  = local.mail_from_domain
        type  = "MX"
        value = "10 feedback-smtp.${data.aws_region.current.name}.amazonses.com"
      },
      {
        name  = local.mail_from_domain
        type  = "TXT"
        value = "v=spf1 include:amazonses.com ~all"
      },
    ],
  )
}

resource "aws_sesv2_configuration_set" "this" {
  configuration_set_name = var.name

  delivery_options {
    tls_policy = "REQUIRE"
  }

  reputation_options {
    reputation_metrics_enabled = true
  }

  # An address that bounced or complained is not sent to again (SES's account-level list).
  suppression_options {
    suppressed_reasons = ["BOUNCE", "COMPLAINT"]
  }
}

resource "aws_sesv2_email_identity" "this" {
  email_identity         = var.domain
  configuration_set_name = aws_sesv2_configuration_set.this.configuration_set_name

  dkim_signing_attributes {
    next_signing_key_length = "RSA_2048_BIT"
  }
}

resource "aws_sesv2_email_identity_mail_from_attributes" "this" {
  email_identity         = aws_sesv2_email_identity.this.email_identity
  mail_from_domain       = local.mail_from_domain
  behavior_on_mx_failure = "USE_DEFAULT_VALUE"
}

resource "aws_route53_record" "this" {
  count = var.route53_zone_id == null ? 0 : length(local.dns_records)

  zone_id = var.route53_zone_id
  name    = local.dns_records[count.index].name
  type    = local.dns_records[count.index].type
  ttl     = 600
  records = [local.dns_records[count.index].value]
}

resource "aws_iam_user" "smtp" {
  name = "${var.name}-ses-smtp"
}

data "aws_iam_policy_document" "send" {
  statement {
    sid       = "SendFromThisIdentityOnly"
    actions   = ["ses:SendRawEmail"]
    resources = [aws_sesv2_email_identity.this.arn, aws_sesv2_configuration_set.this.arn]
  }
}

resource "aws_iam_user_policy" "send" {
  name   = "ses-send-raw-email"
  user   = aws_iam_user.smtp.name
  policy = data.aws_iam_policy_document.send.json
}
