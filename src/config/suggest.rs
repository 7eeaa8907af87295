//! "Did you mean" suggestions for misspelt keys and values.

/// The closest known AWS region code.
pub fn region(code: &str) -> Option<&'static str> {
    closest(code, crate::aws::regions::REGIONS.iter().copied())
}

/// The candidate closest to `input`, if one is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_only_near_misses() {
        let keys = ["failure_threshold", "interval", "protocol"];
        assert_eq!(
            super::closest("failure_treshold", keys),
            Some("failure_threshold")
        );
        assert_eq!(super::closest("intervall", keys), Some("interval"));
        assert_eq!(super::closest("colour", keys), None);
    }

    #[test]
    fn suggests_region_codes_for_typos() {
        assert_eq!(super::region("us-eats-1"), Some("us-east-1"));
        assert_eq!(super::region("eu-wset-1"), Some("eu-west-1"));
        assert_eq!(super::region("zzzzzz"), None);
    }
}
