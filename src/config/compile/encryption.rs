//! `[[table]] encryption`: DynamoDB's own key, the account's AWS-managed key, or a
//! customer-managed KMS key in every region holding the table's data.

use super::*;

const ENCRYPTION_HELP: &str = "encryption = \"aws-owned\", \"aws-managed\" or { kms_key = { \"<region>\" = \"arn:aws:kms:<region>:<account>:key/<id>\" } }";

/// The encryptions written as a string; `{ kms_key = .. }` is read on its own.
const ENCRYPTIONS: Choices<'static, Encryption> = Choices::new(
    "encryption",
    &[
        ("aws-owned", Encryption::AwsOwned),
        ("aws-managed", Encryption::AwsManaged),
    ],
)
.help(ENCRYPTION_HELP);

impl Walker {
    /// `encryption = "aws-owned" | "aws-managed" | { kms_key = { "<region>" = "<arn>" } }`.
    /// `regions` are those holding the table, when they are known.
    pub(super) fn encryption(
        &mut self,
        v: &Value<'_>,
        path: &str,
        regions: Option<&[String]>,
    ) -> Option<Encryption> {
        match v.get_ref() {
            DeValue::String(_) => {
                let s = self.string(v, path)?;
                self.one_of(&s, path, &ENCRYPTIONS)
            }
            DeValue::Table(t) => {
                self.check_keys(t, path, &["kms_key"]);
                let field = join(path, "kms_key");
                let map = self.required(t, v.span(), path, "kms_key")?;
                let keys = self.table(map, &field)?;
                let mut out = std::collections::BTreeMap::new();
                let mut ok = true;
                for (k, arn) in keys.iter() {
                    let region: &str = k.get_ref().as_ref();
                    let f = format!("{field}.{region}");
                    if let Some(regions) = regions
                        && !regions.iter().any(|r| r == region)
                    {
                        let issue = self.error(
                            &f,
                            k.span(),
                            format!("the table has no data in {region}"),
                            "not a region of this table",
                        );
                        issue.help = Some(format!(
                            "the table lives in {}; give a key for each of those",
                            regions.join(", ")
                        ));
                        ok = false;
                        continue;
                    }
                    let Some(s) = self.string(arn, &f) else {
                        ok = false;
                        continue;
                    };
                    match kms_arn_region(&s.value) {
                        Some(r) if r == region => {
                            out.insert(region.to_owned(), s.value);
                        }
                        Some(r) => {
                            let issue = self.error(
                                &f,
                                s.span,
                                format!("the key for {region} is in {r}"),
                                "key in another region",
                            );
                            issue.help = Some(format!(
                                "DynamoDB encrypts each replica with a key in the replica's own region: use a key ARN of the form arn:aws:kms:{region}:…"
                            ));
                            ok = false;
                        }
                        None => {
                            let issue = self.error(
                                &f,
                                s.span,
                                format!("{:?} is not a KMS key ARN", s.value),
                                "not a KMS key ARN",
                            );
                            issue.help = Some(format!(
                                "arn:aws:kms:{region}:<12-digit account>:key/<key id> (or :alias/<name>)"
                            ));
                            ok = false;
                        }
                    }
                }
                if let Some(regions) = regions {
                    let missing: Vec<&str> = regions
                        .iter()
                        .filter(|r| {
                            keys.iter()
                                .all(|(k, _)| k.get_ref().as_ref() as &str != r.as_str())
                        })
                        .map(String::as_str)
                        .collect();
                    if !missing.is_empty() {
                        let issue = self.error(
                            &field,
                            map.span(),
                            format!("no KMS key for {}", missing.join(", ")),
                            "a region of the table has no key",
                        );
                        issue.help = Some("a customer-managed key is needed in every region holding the table's data".into());
                        ok = false;
                    }
                }
                ok.then_some(Encryption::Kms(out))
            }
            other => {
                let issue = self.error(
                    path,
                    v.span(),
                    format!(
                        "`{path}` must be a string or a table, found {}",
                        type_name(other)
                    ),
                    "expected a string or a table",
                );
                issue.help = Some(ENCRYPTION_HELP.into());
                None
            }
        }
    }
}

/// The region of `arn:<partition>:kms:<region>:<account>:key/<id>` or `…:alias/<name>`.
fn kms_arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let resource_ok = resource
        .strip_prefix("key/")
        .or_else(|| resource.strip_prefix("alias/"))
        .is_some_and(|id| !id.is_empty());
    (arn_ == "arn"
        && partition_ok
        && service == "kms"
        && !region.is_empty()
        && account_ok
        && resource_ok)
        .then_some(region)
}

#[cfg(test)]
mod tests {
    use super::kms_arn_region;

    #[test]
    fn kms_arns_give_their_region() {
        let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(kms_arn_region(key), Some("eu-west-1"));
        assert_eq!(
            kms_arn_region("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/orders"),
            Some("us-gov-west-1")
        );
        for bad in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:1111:key/x",
            "arn:aws:s3:eu-west-1:111122223333:key/x",
            "arn:aws:kms::111122223333:key/x",
            "arn:aws:kms:eu-west-1:111122223333:key/",
            "arn:aws:kms:eu-west-1:111122223333:grant/x",
        ] {
            assert_eq!(kms_arn_region(bad), None, "{bad}");
        }
    }
}
