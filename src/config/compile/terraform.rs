//! `[terraform]` (module dir, binary, plugin mirror, S3 backend) and `[aws]`.

use super::*;

impl Walker {
    pub(super) fn terraform(
        &mut self,
        t: &DeTable<'_>,
        base_dir: &Path,
    ) -> Option<TerraformSettings> {
        self.check_keys(t, "terraform", TERRAFORM_KEYS);
        let path_field = |w: &mut Self, key: &str| match get(t, key) {
            Some(v) => w.string(v, &join("terraform", key)).and_then(|s| {
                if s.value.is_empty() {
                    w.error(
                        &join("terraform", key),
                        s.span,
                        format!("`terraform.{key}` is empty"),
                        "empty path",
                    );
                    None
                } else {
                    Some(Some(base_dir.join(s.value)))
                }
            }),
            None => Some(None),
        };
        let dir = path_field(self, "dir");
        let binary = match get(t, "binary") {
            // A bare name is looked up on PATH, like a shell would.
            Some(v) => self.string(v, "terraform.binary").map(|s| {
                if s.value.contains('/') {
                    Some(base_dir.join(s.value))
                } else {
                    Some(s.value.into())
                }
            }),
            None => Some(None),
        };
        let plugin_mirror = path_field(self, "plugin_mirror");
        let backend = match get(t, "backend") {
            Some(v) => self
                .table(v, "terraform.backend")
                .and_then(|b| self.backend(b, v.span())),
            None => Some(Backend::Local),
        };
        Some(TerraformSettings {
            dir: dir?.unwrap_or_else(|| base_dir.join(DEFAULT_TERRAFORM_DIR)),
            binary: binary?,
            plugin_mirror: plugin_mirror?,
            backend: backend?,
        })
    }

    pub(super) fn backend(&mut self, t: &DeTable<'_>, span: Range<usize>) -> Option<Backend> {
        self.check_keys(t, "terraform.backend", BACKEND_KEYS);
        let Some(v) = get(t, "s3") else {
            let issue = self.error(
                "terraform.backend",
                span,
                "`terraform.backend` names no backend",
                "empty",
            );
            issue.help = Some("add `[terraform.backend.s3]` with bucket, key and region, or remove the table for local state".into());
            return None;
        };
        let path = "terraform.backend.s3";
        let s3 = self.table(v, path)?;
        self.check_keys(s3, path, S3_KEYS);
        let bucket = self
            .required(s3, v.span(), path, "bucket")
            .and_then(|b| self.string(b, &join(path, "bucket")));
        let key = self
            .required(s3, v.span(), path, "key")
            .and_then(|b| self.string(b, &join(path, "key")));
        let region = self
            .required(s3, v.span(), path, "region")
            .and_then(|b| self.region_code(b, &join(path, "region")));
        let lock = match get(s3, "dynamodb_table") {
            Some(b) => self
                .string(b, &join(path, "dynamodb_table"))
                .map(|s| Some(s.value)),
            None => Some(None),
        };
        Some(Backend::S3(S3Backend {
            bucket: bucket?.value,
            key: key?.value,
            region: region?.value,
            dynamodb_table: lock?,
        }))
    }

    pub(super) fn aws(&mut self, t: &DeTable<'_>) -> Option<AwsSettings> {
        self.check_keys(t, "aws", AWS_KEYS);
        let endpoint_url = match get(t, "endpoint_url") {
            Some(v) => {
                let s = self.string(v, "aws.endpoint_url")?;
                if !(s.value.starts_with("http://") || s.value.starts_with("https://")) {
                    let issue = self.error(
                        "aws.endpoint_url",
                        s.span,
                        format!(
                            "endpoint URL {:?} must start with http:// or https://",
                            s.value
                        ),
                        "not a URL",
                    );
                    issue.help = Some("for the local emulator: \"http://127.0.0.1:4566\"".into());
                    return None;
                }
                Some(s.value.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        Some(AwsSettings { endpoint_url })
    }
}
