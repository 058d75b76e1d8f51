output "secret_arn" {
  description = "ARN of the secret (the IRSA policy's scope)."
  value       = aws_secretsmanager_secret.this.arn
}

output "secret_name" {
  description = "Name of the secret (ExternalSecret `remoteRef.key`)."
  value       = aws_secretsmanager_secret.this.name
}
