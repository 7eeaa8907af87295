//! Built-in prices, per actual region pair rather than one stand-in region. Inter-
//! region transfer is billed by the source region; these are AWS's published
//! list prices per GB (rounded), overridable per pair in `[cost.price_per_gb]`.

use std::collections::BTreeMap;

/// USD per GB sent from `from` to another region.
pub fn transfer_per_gb(from: &str, to: &str, overrides: &BTreeMap<(String, String), f64>) -> f64 {
    if let Some(p) = overrides.get(&(from.to_owned(), to.to_owned())) {
        return *p;
    }
    match (from, to) {
        ("us-east-1", "us-east-2") | ("us-east-2", "us-east-1") => 0.01,
        _ => match from {
            "us-east-1" | "us-east-2" | "us-west-1" | "us-west-2" | "ca-central-1"
            | "ca-west-1" => 0.02,
            "eu-west-1" | "eu-west-2" | "eu-west-3" | "eu-central-1" | "eu-central-2"
            | "eu-north-1" | "eu-south-1" | "eu-south-2" => 0.02,
            "ap-northeast-1" | "ap-northeast-2" | "ap-northeast-3" | "ap-southeast-1"
            | "ap-southeast-2" | "ap-east-1" => 0.09,
            "ap-south-1" | "ap-south-2" => 0.086,
            "ap-southeast-3" | "ap-southeast-4" | "ap-southeast-5" | "ap-southeast-6"
            | "ap-southeast-7" | "ap-east-2" => 0.10,
            "sa-east-1" => 0.138,
            "af-south-1" => 0.147,
            "me-central-1" | "me-south-1" | "il-central-1" => 0.11,
            "mx-central-1" => 0.08,
            _ => 0.09,
        },
    }
}

/// USD per million replicated write request units (on-demand, priced like ordinary
/// writes since November 2024).
pub fn replicated_write_per_million(region: &str) -> f64 {
    match region {
        "us-east-1" | "us-east-2" | "us-west-2" => 0.625,
        "eu-west-1" | "ca-central-1" => 0.6875,
        "eu-central-1" | "eu-west-2" | "eu-west-3" | "eu-north-1" => 0.7625,
        "ap-northeast-1" | "ap-southeast-1" | "ap-southeast-2" | "ap-northeast-2" => 0.7125,
        "sa-east-1" => 0.9375,
        _ => 0.75,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_the_source_region_and_overrides_win() {
        let none = BTreeMap::new();
        assert_eq!(transfer_per_gb("us-east-1", "us-east-2", &none), 0.01);
        assert_eq!(transfer_per_gb("us-east-1", "eu-west-1", &none), 0.02);
        assert_eq!(transfer_per_gb("sa-east-1", "us-east-1", &none), 0.138);
        let mut o = BTreeMap::new();
        o.insert(("us-east-1".to_owned(), "eu-west-1".to_owned()), 0.015);
        assert_eq!(transfer_per_gb("us-east-1", "eu-west-1", &o), 0.015);
        assert_eq!(
            transfer_per_gb("eu-west-1", "us-east-1", &o),
            0.02,
            "overrides are per direction"
        );
    }
}
