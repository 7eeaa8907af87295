//! `[terraform]` (module dir, binary, plugin mirror, S3 backend) and `[aws]`.

use super::*;

impl Walker {
    pub(super) fn terraform(
        &mut self,
        t: &DeTable<'_>,
        base_dir: &Path,
    ) -> Option<TerraformSettings> {
        self.check_keys(t, "terraform", TERRAFORM_KEYS);
        let path_field = |w: &mut Self, key: &str| {
            w.optional(t, "terraform", key, |w, v, field| {
                let s = w.string(v, field)?;
                let s = w.checked(s, field, path_problem)?;
                if s.value.is_empty() {
                    w.error(
                        field,
                        s.span,
                        format!("`terraform.{key}` is empty"),
                        "empty path",
                    );
                    return None;
                }
                Some(base_dir.join(s.value))
            })
        };
        let dir = path_field(self, "dir");
        let binary = self.optional(t, "terraform", "binary", |w, v, field| {
            let s = w.string(v, field)?;
            let s = w.checked(s, field, path_problem)?;
            // A bare name is looked up on PATH, like a shell would.
            if s.value.contains('/') {
                Some(base_dir.join(s.value))
            } else {
                Some(s.value.into())
            }
        });
        let plugin_mirror = path_field(self, "plugin_mirror");
        let backend = self
            .optional(t, "terraform", "backend", |w, v, field| {
                w.table(v, field).and_then(|b| w.backend(b, v.span()))
            })
            .map(|backend| backend.unwrap_or(Backend::Local));
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
            .and_then(|b| self.string(b, &join(path, "bucket")))
            .and_then(|b| self.checked(b, &join(path, "bucket"), bucket_problem));
        let key = self
            .required(s3, v.span(), path, "key")
            .and_then(|b| self.string(b, &join(path, "key")))
            .and_then(|k| self.checked(k, &join(path, "key"), key_problem));
        let region = self
            .required(s3, v.span(), path, "region")
            .and_then(|b| self.region_code(b, &join(path, "region")));
        let lock = self.optional(s3, path, "dynamodb_table", |w, b, field| {
            let s = w.string(b, field)?;
            w.checked(s, field, table_problem).map(|s| s.value)
        });
        Some(Backend::S3(S3Backend {
            bucket: bucket?.value,
            key: key?.value,
            region: region?.value,
            dynamodb_table: lock?,
        }))
    }

    pub(super) fn aws(&mut self, t: &DeTable<'_>) -> Option<AwsSettings> {
        self.check_keys(t, "aws", AWS_KEYS);
        let endpoint_url = self.optional(t, "aws", "endpoint_url", |w, v, field| {
            let s = w.string(v, field)?;
            if !(s.value.starts_with("http://") || s.value.starts_with("https://")) {
                let issue = w.error(
                    field,
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
        })?;
        Some(AwsSettings { endpoint_url })
    }
}

/// Why `name` is not an S3 general-purpose bucket name, by AWS's naming rules.
fn bucket_problem(name: &str) -> Option<String> {
    let bad = |why: &str| Some(format!("S3 bucket name {name:?} {why}"));
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return bad(&format!(
            "may hold only lower-case letters, digits, dots and hyphens, not {c:?}"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return bad("must not hold two dots in a row");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not look like an IP address");
    }
    if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return bad("uses a prefix or suffix AWS reserves");
    }
    None
}

/// Why `key` cannot be the S3 backend's state object key.
fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() || key.len() > 1024 {
        return Some(format!(
            "S3 key must be 1 to 1024 bytes, found {}",
            key.len()
        ));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Some(format!("S3 key {key:?} must not start or end with `/`"));
    }
    control_problem("S3 key", key)
}

/// Why `name` is not a DynamoDB table name (3 to 255 of `a-z A-Z 0-9 _ - .`).
fn table_problem(name: &str) -> Option<String> {
    if !(3..=255).contains(&name.len()) {
        return Some(format!(
            "DynamoDB table name must be 3 to 255 characters, found {}",
            name.len()
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map(|c| {
            format!("DynamoDB table name {name:?} may hold only letters, digits, `_`, `-` and `.`, not {c:?}")
        })
}

/// Control characters, which AWS refuses in names and keys and which have no place in
/// a file name either.
pub(super) fn control_problem(what: &str, value: &str) -> Option<String> {
    value
        .chars()
        .find(|c| c.is_control())
        .map(|c| format!("{what} holds the control character {c:?}"))
}

/// Why `path` cannot be a file path (NUL is the one byte no path may hold; longer
/// than PATH_MAX no call will take it).
pub(super) fn path_problem(path: &str) -> Option<String> {
    if path.len() > 4096 {
        return Some(format!("path is {} bytes; at most 4096", path.len()));
    }
    control_problem("path", path)
}
