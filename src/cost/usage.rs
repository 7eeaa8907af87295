//! What a billing usage type means for geoplan: inter-region transfer between two
//! regions, cross-AZ transfer, DynamoDB replicated writes — or something else.
//! Pure; the region codes come from `regions::BILLING_CODES`.

use crate::aws::regions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// `<SRC>-<DST>-AWS-Out-Bytes`: the charged side of inter-region transfer.
    InterRegion {
        from: &'static str,
        to: &'static str,
    },
    /// `<SRC>-<DST>-AWS-In-Bytes`: the free twin of the above.
    InterRegionIn,
    /// `<R>-DataTransfer-Regional-Bytes`: between availability zones of one region.
    CrossAz { region: &'static str },
    /// DynamoDB global tables' replicated writes (`…ReplWrite…` usage types).
    ReplicatedWrite { region: &'static str },
    /// Shaped like one of the above, but naming a region code geoplan does not know.
    UnknownRegionCode { code: String },
    /// Any other usage type (storage, requests, …): not about replication.
    Other,
}

/// The region of a prefix code, or us-east-1 when there is no prefix.
fn region_of(code: Option<&str>) -> Result<&'static str, String> {
    match code {
        None => Ok("us-east-1"),
        Some(c) => regions::from_billing_code(c).ok_or_else(|| c.to_owned()),
    }
}

pub fn classify(usage_type: &str) -> Usage {
    for (suffix, charged) in [("-AWS-Out-Bytes", true), ("-AWS-In-Bytes", false)] {
        if let Some(head) = usage_type.strip_suffix(suffix) {
            let codes: Vec<&str> = head.split('-').collect();
            // Two codes: source and destination; one code: from us-east-1 (no prefix).
            let (from, to) = match codes.as_slice() {
                [from, to] => (region_of(Some(from)), region_of(Some(to))),
                [to] => (Ok("us-east-1"), region_of(Some(to))),
                _ => return Usage::Other,
            };
            return match (from, to) {
                (Ok(from), Ok(to)) if charged => Usage::InterRegion { from, to },
                (Ok(_), Ok(_)) => Usage::InterRegionIn,
                (Err(code), _) | (_, Err(code)) => Usage::UnknownRegionCode { code },
            };
        }
    }
    let (prefix, rest) = match usage_type.split_once('-') {
        Some((p, rest))
            if p.len() <= 4
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
        {
            (Some(p), rest)
        }
        _ => (None, usage_type),
    };
    let is_cross_az = rest == "DataTransfer-Regional-Bytes";
    let is_repl = rest.starts_with("ReplWrite");
    if !(is_cross_az || is_repl) {
        return Usage::Other;
    }
    match region_of(prefix) {
        Ok(region) if is_cross_az => Usage::CrossAz { region },
        Ok(region) => Usage::ReplicatedWrite { region },
        Err(code) => Usage::UnknownRegionCode { code },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_billing_usage_types() {
        assert_eq!(
            classify("USE1-EU-AWS-Out-Bytes"),
            Usage::InterRegion {
                from: "us-east-1",
                to: "eu-west-1"
            }
        );
        assert_eq!(
            classify("EUC1-APS3-AWS-Out-Bytes"),
            Usage::InterRegion {
                from: "eu-central-1",
                to: "ap-south-1"
            }
        );
        assert_eq!(
            classify("USW2-AWS-Out-Bytes"),
            Usage::InterRegion {
                from: "us-east-1",
                to: "us-west-2"
            }
        );
        assert_eq!(classify("USE1-EU-AWS-In-Bytes"), Usage::InterRegionIn);
        assert_eq!(
            classify("EU-DataTransfer-Regional-Bytes"),
            Usage::CrossAz {
                region: "eu-west-1"
            }
        );
        assert_eq!(
            classify("DataTransfer-Regional-Bytes"),
            Usage::CrossAz {
                region: "us-east-1"
            }
        );
        assert_eq!(
            classify("USW2-ReplWriteRequestUnits"),
            Usage::ReplicatedWrite {
                region: "us-west-2"
            }
        );
        assert_eq!(
            classify("APN1-ReplWriteCapacityUnit-Hrs"),
            Usage::ReplicatedWrite {
                region: "ap-northeast-1"
            }
        );
        assert_eq!(
            classify("ZZZ9-USE1-AWS-Out-Bytes"),
            Usage::UnknownRegionCode {
                code: "ZZZ9".into()
            }
        );
        assert_eq!(
            classify("XYZ1-ReplWriteRequestUnits"),
            Usage::UnknownRegionCode {
                code: "XYZ1".into()
            }
        );
        assert_eq!(classify("USE1-TimedStorage-ByteHrs"), Usage::Other);
        assert_eq!(
            classify("EU-DataTransfer-Out-Bytes"),
            Usage::Other,
            "internet egress is not replication"
        );
    }
}
