# The models volume: one encrypted EFS file system shared by dev and prod, each environment a
# directory of it (/dev, /prod) reached through its own access point, which pins the root
# directory and the POSIX identity so that one environment's pods cannot see the other's files.

resource "aws_efs_file_system" "this" {
  creation_token                  = var.name
  encrypted                       = true
  performance_mode                = "generalPurpose"
  throughput_mode                 = var.throughput_mode
  provisioned_throughput_in_mibps = var.throughput_mode == "provisioned" ? var.provisioned_throughput_in_mibps : null

  tags = {
    Name = var.name
  }
}

resource "aws_efs_backup_policy" "this" {
  file_system_id = aws_efs_file_system.this.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_security_group" "this" {
  name        = "${var.name}-efs"
  description = "EFS ${var.name}: NFS from the EKS nodes only"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.name}-efs"
  }
}

resource "aws_vpc_security_group_ingress_rule" "nfs" {
  count = length(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "NFS from the EKS nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = var.allowed_security_group_ids[count.index]
}

resource "aws_efs_mount_target" "this" {
  count = length(var.subnet_ids)

  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.this.id]
}

resource "aws_efs_access_point" "env" {
  for_each = toset(var.environments)

  file_system_id = aws_efs_file_system.this.id

  root_directory {
    path = "/${each.key}"

    creation_info {
      owner_uid   = var.posix_uid
      owner_gid   = var.posix_gid
      permissions = "0750"
    }
  }

  posix_user {
    uid = var.posix_uid
    gid = var.posix_gid
  }

  tags = {
    Name        = "${var.name}-${each.key}"
    Environment = each.key
  }
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "MountThroughMountTargetsOnly"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.this.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "elasticfilesystem:AccessedViaMountTarget"
      values   = ["true"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.this.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_efs_file_system_policy" "this" {
  file_system_id = aws_efs_file_system.this.id
  policy         = data.aws_iam_policy_document.this.json
}
