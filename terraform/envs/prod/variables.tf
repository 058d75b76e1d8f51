# The providers' settings. What sets this environment apart is in main.tf; every input of the
# environment is described in modules/environment/variables.tf.

variable "region" {
  description = "AWS region of the stack (the shared stack's)."
  type        = string
  default     = "eu-central-1"
}

variable "project" {
  description = "Project name: the Project tag and the prefix of this environment's resources."
  type        = string
  default     = "pingvas"
}
