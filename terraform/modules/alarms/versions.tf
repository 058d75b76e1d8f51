terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100"
      # CloudFront's metrics (and those of CLOUDFRONT-scope web ACLs) only exist in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
