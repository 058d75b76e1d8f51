# The container of an environment's secret settings. Terraform creates the secret and, at most,
# a placeholder version whose every value is empty; the real values are put in by an operator
# (`aws secretsmanager put-secret-value`) and never pass through Terraform code or state.
# External Secrets syncs the document into the namespace's Kubernetes Secret.

resource "aws_secretsmanager_secret" "this" {
  name                    = var.name
  description             = "Pingvas Studio ${var.environment}: the app's secret settings (JSON: ${join(", ", var.keys)})"
  kms_key_id              = var.kms_key_id
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "placeholder" {
  count = var.create_placeholder_version ? 1 : 0

  secret_id     = aws_secretsmanager_secret.this.id
  secret_string = jsonencode({ for k in var.keys : k => "" })

  # The values operators put in later are theirs: Terraform never reverts them to the placeholder.
  lifecycle {
    ignore_changes = [secret_string, version_stages]
  }
}
