# Terraform override file for running hand-written modules (terraform/) against the
# local emulator: copy it beside the module as `emulator_override.tf`. Terraform merges
# it into the module's provider block; the module itself stays real-AWS-only.
# The endpoint comes from AWS_ENDPOINT_URL, which provider 5.100 honours, and the
# credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (any values; on
# LocalStack a 12-digit key id is the account the resources go to).
provider "aws" {
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
}
