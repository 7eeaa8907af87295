output "backend" {
  description = "Paste into regions.toml as [terraform.backend.s3] (add a key per deployment)."
  value = {
    bucket         = aws_s3_bucket.state.id
    region         = var.region
    dynamodb_table = aws_dynamodb_table.locks.name
  }
}
