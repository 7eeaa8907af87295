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

/// Billing short codes (the prefix of usage types such as `USE1-EU-AWS-Out-Bytes`),
/// from AWS's "Region billing codes" table. eu-west-1 is `EU`; a usage type with no
/// prefix is us-east-1.
pub const BILLING_CODES: &[(&str, &str)] = &[
    ("AFS1", "af-south-1"),
    ("APE1", "ap-east-1"),
    ("APE2", "ap-east-2"),
    ("APN1", "ap-northeast-1"),
    ("APN2", "ap-northeast-2"),
    ("APN3", "ap-northeast-3"),
    ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"),
    ("APS3", "ap-south-1"),
    ("APS4", "ap-southeast-3"),
    ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"),
    ("APS7", "ap-southeast-5"),
    ("APS8", "ap-southeast-6"),
    ("APS9", "ap-southeast-7"),
    ("CAN1", "ca-central-1"),
    ("CAN2", "ca-west-1"),
    ("EU", "eu-west-1"),
    ("EUC1", "eu-central-1"),
    ("EUC2", "eu-central-2"),
    ("EUN1", "eu-north-1"),
    ("EUS1", "eu-south-1"),
    ("EUS2", "eu-south-2"),
    ("EUW1", "eu-west-1"),
    ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"),
    ("ILC1", "il-central-1"),
    ("MEC1", "me-central-1"),
    ("MES1", "me-south-1"),
    ("MXC1", "mx-central-1"),
    ("SAE1", "sa-east-1"),
    ("USE1", "us-east-1"),
    ("USE2", "us-east-2"),
    ("USW1", "us-west-1"),
    ("USW2", "us-west-2"),
];

/// The region a billing code stands for.
pub fn from_billing_code(code: &str) -> Option<&'static str> {
    BILLING_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, r)| *r)
}

/// Where each region is, for the status page's map: the place AWS names it after and
/// that place's approximate coordinates (latitude, longitude in degrees). A region is a
/// group of data centres, so this is a label position, not a site.
pub const LOCATIONS: &[(&str, &str, f64, f64)] = &[
    ("af-south-1", "Cape Town", -33.92, 18.42),
    ("ap-east-1", "Hong Kong", 22.32, 114.17),
    ("ap-east-2", "Taipei", 25.03, 121.57),
    ("ap-northeast-1", "Tokyo", 35.68, 139.69),
    ("ap-northeast-2", "Seoul", 37.57, 126.98),
    ("ap-northeast-3", "Osaka", 34.69, 135.50),
    ("ap-south-1", "Mumbai", 19.08, 72.88),
    ("ap-south-2", "Hyderabad", 17.39, 78.49),
    ("ap-southeast-1", "Singapore", 1.35, 103.82),
    ("ap-southeast-2", "Sydney", -33.87, 151.21),
    ("ap-southeast-3", "Jakarta", -6.21, 106.85),
    ("ap-southeast-4", "Melbourne", -37.81, 144.96),
    ("ap-southeast-5", "Malaysia", 3.139, 101.687),
    ("ap-southeast-6", "New Zealand", -36.85, 174.76),
    ("ap-southeast-7", "Thailand", 13.76, 100.50),
    ("ca-central-1", "Montreal", 45.50, -73.57),
    ("ca-west-1", "Calgary", 51.05, -114.07),
    ("eu-central-1", "Frankfurt", 50.11, 8.68),
    ("eu-central-2", "Zurich", 47.38, 8.54),
    ("eu-north-1", "Stockholm", 59.33, 18.07),
    ("eu-south-1", "Milan", 45.46, 9.19),
    ("eu-south-2", "Spain", 41.65, -0.88),
    ("eu-west-1", "Ireland", 53.35, -6.26),
    ("eu-west-2", "London", 51.51, -0.13),
    ("eu-west-3", "Paris", 48.86, 2.35),
    ("il-central-1", "Tel Aviv", 32.09, 34.78),
    ("me-central-1", "UAE", 25.20, 55.27),
    ("me-south-1", "Bahrain", 26.07, 50.56),
    ("mx-central-1", "Mexico", 20.59, -100.39),
    ("sa-east-1", "S\u{e3}o Paulo", -23.55, -46.63),
    ("us-east-1", "N. Virginia", 39.04, -77.49),
    ("us-east-2", "Ohio", 39.96, -83.00),
    ("us-west-1", "N. California", 37.35, -121.96),
    ("us-west-2", "Oregon", 45.84, -119.70),
];

/// A region's place name and coordinates.
pub fn location(code: &str) -> Option<(&'static str, f64, f64)> {
    LOCATIONS
        .iter()
        .find(|(c, ..)| *c == code)
        .map(|&(_, city, lat, lon)| (city, lat, lon))
}

/// Route 53's API (and so every record change) is served from us-east-1.
pub const ROUTE53_CONTROL_REGION: &str = "us-east-1";

pub fn is_known(code: &str) -> bool {
    REGIONS.binary_search(&code).is_ok()
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
    fn every_region_has_a_billing_code_and_every_code_a_known_region() {
        for region in REGIONS {
            assert!(
                BILLING_CODES.iter().any(|(_, r)| r == region),
                "{region} has no billing code"
            );
        }
        for (code, region) in BILLING_CODES {
            assert!(is_known(region), "{code} maps to unknown {region}");
        }
        assert_eq!(from_billing_code("EU"), Some("eu-west-1"));
        assert_eq!(from_billing_code("APS3"), Some("ap-south-1"));
        assert_eq!(from_billing_code("XXX1"), None);
    }

    #[test]
    fn knows_real_codes() {
        assert!(is_known("eu-west-1"));
        assert!(!is_known("eu-west-9"));
        assert!(!is_known("us-east"));
    }

    #[test]
    fn every_region_has_a_location_on_the_globe() {
        for region in REGIONS {
            let (city, lat, lon) =
                location(region).unwrap_or_else(|| panic!("{region} has no location"));
            assert!(!city.is_empty());
            assert!(
                (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon),
                "{region}"
            );
        }
        assert_eq!(
            LOCATIONS.len(),
            REGIONS.len(),
            "a location for an unknown region"
        );
        // Hemispheres, as a check on sign mistakes.
        let (_, lat, lon) = location("sa-east-1").unwrap();
        assert!(lat < 0.0 && lon < 0.0);
        let (_, lat, lon) = location("ap-northeast-1").unwrap();
        assert!(lat > 0.0 && lon > 0.0);
    }
}
