# CloudWatch alarms and the SNS topics they notify. Alarms can only notify a topic in their own
# region, so there are two topics: one in the stack's region, one in us-east-1 (CloudFront and
# CLOUDFRONT-scope WAF metrics live there). Each block below exists only when its input is set.

data "aws_region" "current" {}

locals {
  aurora_alarms = var.aurora == null ? {} : {
    cpu = {
      metric      = "CPUUtilization"
      comparison  = "GreaterThanThreshold"
      threshold   = var.aurora.cpu_percent
      statistic   = "Average"
      description = "Aurora CPU above ${var.aurora.cpu_percent}%"
    }
    freeable-memory = {
      metric      = "FreeableMemory"
      comparison  = "LessThanThreshold"
      threshold   = var.aurora.freeable_memory_bytes
      statistic   = "Minimum"
      description = "Aurora freeable memory below ${var.aurora.freeable_memory_bytes} bytes"
    }
    connections = {
      metric      = "DatabaseConnections"
      comparison  = "GreaterThanThreshold"
      threshold   = var.aurora.max_database_connections
      statistic   = "Maximum"
      description = "Aurora connections above ${var.aurora.max_database_connections}"
    }
  }

  redis_nodes     = var.redis == null ? [] : var.redis.member_cluster_ids
  redis_lag_nodes = var.redis == null ? [] : (var.redis.watch_replication_lag ? var.redis.member_cluster_ids : [])

  waf_regional   = var.waf == null ? null : var.waf.regional_web_acl_name
  waf_cloudfront = var.waf == null ? null : var.waf.cloudfront_web_acl_name
}

# --- topics ---

resource "aws_sns_topic" "regional" {
  name = "${var.name}-alarms"
}

resource "aws_sns_topic" "us_east_1" {
  provider = aws.us_east_1

  name = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "regional" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.regional.arn
  protocol  = "email"
  endpoint  = each.key
}

resource "aws_sns_topic_subscription" "us_east_1" {
  provider = aws.us_east_1
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.us_east_1.arn
  protocol  = "email"
  endpoint  = each.key
}

# --- Aurora ---

resource "aws_cloudwatch_metric_alarm" "aurora" {
  for_each = local.aurora_alarms

  alarm_name          = "${var.name}-aurora-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBClusterIdentifier = var.aurora.cluster_identifier }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = ceil(var.aurora.evaluation_periods_minutes / 5)
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}

# --- ElastiCache (per node) ---

resource "aws_cloudwatch_metric_alarm" "redis_cpu" {
  for_each = toset(local.redis_nodes)

  alarm_name          = "${each.key}-engine-cpu"
  alarm_description   = "Redis ${each.key}: engine CPU above ${var.redis.engine_cpu_percent}%"
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.redis.engine_cpu_percent
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}

resource "aws_cloudwatch_metric_alarm" "redis_evictions" {
  for_each = toset(local.redis_nodes)

  alarm_name          = "${each.key}-evictions"
  alarm_description   = "Redis ${each.key}: more than ${var.redis.evictions_per_5_minutes} keys evicted in 5 minutes (memory full)"
  namespace           = "AWS/ElastiCache"
  metric_name         = "Evictions"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.redis.evictions_per_5_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}

# Only replicas report the lag; whichever node is primary at the moment reports nothing.
resource "aws_cloudwatch_metric_alarm" "redis_replication_lag" {
  for_each = toset(local.redis_lag_nodes)

  alarm_name          = "${each.key}-replication-lag"
  alarm_description   = "Redis ${each.key}: replica more than ${var.redis.replication_lag_seconds}s behind the primary"
  namespace           = "AWS/ElastiCache"
  metric_name         = "ReplicationLag"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.redis.replication_lag_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}

# --- CloudFront (us-east-1) ---

resource "aws_cloudwatch_metric_alarm" "cloudfront_5xx" {
  provider = aws.us_east_1
  count    = var.cloudfront == null ? 0 : 1

  alarm_name          = "${var.name}-cloudfront-5xx"
  alarm_description   = "CloudFront ${var.cloudfront.distribution_id}: 5xx rate above ${var.cloudfront.error_5xx_percent}%"
  namespace           = "AWS/CloudFront"
  metric_name         = "5xxErrorRate"
  dimensions          = { DistributionId = var.cloudfront.distribution_id, Region = "Global" }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cloudfront.error_5xx_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.us_east_1.arn]
  ok_actions          = [aws_sns_topic.us_east_1.arn]
}

# --- WAF: a spike of blocked requests (an attack, or a rule blocking real users) ---

resource "aws_cloudwatch_metric_alarm" "waf_regional_blocked" {
  count = local.waf_regional == null ? 0 : 1

  alarm_name          = "${var.name}-waf-regional-blocked"
  alarm_description   = "WAF ${local.waf_regional}: more than ${var.waf.blocked_per_5_minutes} requests blocked in 5 minutes"
  namespace           = "AWS/WAFV2"
  metric_name         = "BlockedRequests"
  dimensions          = { WebACL = local.waf_regional, Rule = "ALL", Region = data.aws_region.current.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.waf.blocked_per_5_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}

resource "aws_cloudwatch_metric_alarm" "waf_cloudfront_blocked" {
  provider = aws.us_east_1
  count    = local.waf_cloudfront == null ? 0 : 1

  alarm_name          = "${var.name}-waf-cloudfront-blocked"
  alarm_description   = "WAF ${local.waf_cloudfront}: more than ${var.waf.blocked_per_5_minutes} requests blocked in 5 minutes"
  namespace           = "AWS/WAFV2"
  metric_name         = "BlockedRequests"
  dimensions          = { WebACL = local.waf_cloudfront, Rule = "ALL" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.waf.blocked_per_5_minutes
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.us_east_1.arn]
  ok_actions          = [aws_sns_topic.us_east_1.arn]
}

# --- EFS ---

resource "aws_cloudwatch_metric_alarm" "efs_burst_credits" {
  count = var.efs == null ? 0 : 1

  alarm_name          = "${var.name}-efs-burst-credits"
  alarm_description   = "EFS ${var.efs.file_system_id}: burst credits below ${var.efs.min_burst_credit_bytes} bytes (model loads will slow to baseline throughput)"
  namespace           = "AWS/EFS"
  metric_name         = "BurstCreditBalance"
  dimensions          = { FileSystemId = var.efs.file_system_id }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = var.efs.min_burst_credit_bytes
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.regional.arn]
  ok_actions          = [aws_sns_topic.regional.arn]
}
