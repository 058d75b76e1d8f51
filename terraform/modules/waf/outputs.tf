output "web_acl_arn" {
  description = "ARN of the web ACL (CloudFront's web_acl_id, or the ALB ingress annotation alb.ingress.kubernetes.io/wafv2-acl-arn)."
  value       = aws_wafv2_web_acl.this.arn
}

output "web_acl_name" {
  description = "Name of the web ACL (the WebACL dimension of its CloudWatch metrics)."
  value       = aws_wafv2_web_acl.this.name
}

output "vpn_ip_set_arn" {
  description = "ARN of the IP set of the VPN networks."
  value       = aws_wafv2_ip_set.vpn.arn
}
