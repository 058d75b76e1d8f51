output "file_system_id" {
  description = "ID of the file system."
  value       = aws_efs_file_system.this.id
}

output "access_point_ids" {
  description = "Access point per environment; a PV's volumeHandle is <file_system_id>::<access point>."
  value       = { for env, ap in aws_efs_access_point.env : env => ap.id }
}

output "security_group_id" {
  description = "Security group of the mount targets."
  value       = aws_security_group.this.id
}
