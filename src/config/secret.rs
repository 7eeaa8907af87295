//! A secret (the API token, the webhook signing key): trimmed, never empty, and never
//! printed: its `Debug` form is redacted, and it has no `Display`.

/// A secret value; `expose` is the one way to its text.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret in `s` (an environment variable's value or a file's content), trimmed
    /// of surrounding whitespace and newlines; `None` when nothing is left.
    pub fn new(s: impl Into<String>) -> Option<Secret> {
        let s = s.into().trim().to_owned();
        (!s.is_empty()).then_some(Secret(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_trimmed_never_empty_and_never_printed() {
        let s = Secret::new(" hunter2\n").unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(s.clone())).contains("hunter2"));
        assert!(Secret::new(" \n").is_none());
    }
}
