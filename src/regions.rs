//! The AWS commercial regions geoplan knows, from one table.
//!
//! Route 53 accepts any string as a latency region and the emulator validates nothing,
//! so this table is what stands between a typo and a record that never answers.

/// Every commercial AWS region code, sorted.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Route 53's API (and so every record change) is served from us-east-1.
pub const ROUTE53_CONTROL_REGION: &str = "us-east-1";

pub fn is_known(code: &str) -> bool {
    REGIONS.binary_search(&code).is_ok()
}

/// The closest known region code, for "did you mean" hints.
pub fn closest(code: &str) -> Option<&'static str> {
    crate::suggest::closest(code, REGIONS.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let mut sorted = REGIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, REGIONS);
    }

    #[test]
    fn knows_real_codes_and_suggests_for_typos() {
        assert!(is_known("eu-west-1"));
        assert!(!is_known("eu-west-9"));
        assert!(!is_known("us-east"));
        assert_eq!(closest("us-eats-1"), Some("us-east-1"));
        assert_eq!(closest("eu-wset-1"), Some("eu-west-1"));
        assert_eq!(closest("zzzzzz"), None);
    }
}
