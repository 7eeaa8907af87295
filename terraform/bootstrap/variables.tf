variable "region" {
  description = "Region of the state bucket and lock table."
  type        = string
}

variable "state_bucket" {
  description = "Name of the S3 bucket that holds Terraform state (globally unique)."
  type        = string
}

variable "lock_table" {
  description = "Name of the DynamoDB table Terraform locks state with."
  type        = string
  default     = "geoplan-terraform-locks"
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds state. Keep false outside tests."
  type        = bool
  default     = false
}
