mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-central-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

mock_provider "aws" {
  alias = "us_east_1"
}

run "plan" {
  command = plan
}

run "admin_api_networks_are_both_vpn_lists" {
  command = plan

  assert {
    condition     = output.admin_allowed_cidrs == tolist(["198.51.100.0/24", "10.100.0.0/16"])
    error_message = "the WAF admin rule admits the VPN's egress and client ranges, nothing else"
  }
}

run "a_private_range_on_the_public_endpoint_is_refused" {
  command = plan

  variables {
    vpn_cidrs = ["10.100.0.0/16"]
  }

  expect_failures = [var.vpn_cidrs]
}
