output "bucket_name" {
  description = "The media bucket (PINGVAS_STORAGE_URL=s3://<bucket>)."
  value       = aws_s3_bucket.media.bucket
}

output "bucket_arn" {
  description = "ARN of the media bucket (the IRSA policy's scope)."
  value       = aws_s3_bucket.media.arn
}

output "distribution_id" {
  description = "ID of the CloudFront distribution (the alarms' DistributionId)."
  value       = aws_cloudfront_distribution.media.id
}

output "distribution_domain_name" {
  description = "The distribution's *.cloudfront.net name."
  value       = aws_cloudfront_distribution.media.domain_name
}

output "media_base_url" {
  description = "PINGVAS_MEDIA_BASE_URL: the first alias, else the cloudfront.net name."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.media.domain_name}"
}
