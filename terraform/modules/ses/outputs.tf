output "identity_arn" {
  description = "ARN of the SES domain identity (the only resource the SMTP user may send from)."
  value       = aws_sesv2_email_identity.this.arn
}

output "configuration_set_name" {
  description = "The identity's default configuration set."
  value       = aws_sesv2_configuration_set.this.configuration_set_name
}

output "smtp_user_name" {
  description = "IAM user whose access key becomes the SMTP credentials (aws iam create-access-key --user-name ...)."
  value       = aws_iam_user.smtp.name
}

output "smtp_host" {
  description = "SES's SMTP endpoint in this region (implicit TLS on 465: smtps://)."
  value       = "email-smtp.${data.aws_region.current.name}.amazonaws.com"
}

output "dns_records" {
  description = "DKIM CNAMEs and the MAIL FROM domain's MX and SPF records (created in Route 53 when route53_zone_id is set)."
  value       = local.dns_records
}
