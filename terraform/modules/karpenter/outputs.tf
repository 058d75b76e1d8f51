output "controller_role_arn" {
  description = "IRSA role of the Karpenter controller (the Helm release's service-account annotation)."
  value       = aws_iam_role.controller.arn
}

output "node_role_name" {
  description = "IAM role of Karpenter's nodes (EC2NodeClass `spec.role`)."
  value       = aws_iam_role.node.name
}

output "node_role_arn" {
  description = "ARN of the IAM role of Karpenter's nodes."
  value       = aws_iam_role.node.arn
}

output "node_instance_profile_name" {
  description = "Instance profile of Karpenter's nodes (EC2NodeClass `spec.instanceProfile`, if used instead of `spec.role`)."
  value       = aws_iam_instance_profile.node.name
}

output "interruption_queue_name" {
  description = "SQS queue of interruption events (Helm value `settings.interruptionQueue`)."
  value       = aws_sqs_queue.interruption.name
}
