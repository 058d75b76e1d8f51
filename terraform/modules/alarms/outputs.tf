output "sns_topic_arn" {
  description = "Alarm topic in the stack's region."
  value       = aws_sns_topic.regional.arn
}

output "sns_topic_us_east_1_arn" {
  description = "Alarm topic in us-east-1 (CloudFront and CLOUDFRONT-scope WAF alarms)."
  value       = aws_sns_topic.us_east_1.arn
}
