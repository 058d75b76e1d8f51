region  = "eu-central-1"
project = "pingvas"
