terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100"
      # Passed on to the alarms module: CloudFront's metrics only exist in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
