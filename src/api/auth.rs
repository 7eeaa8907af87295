//! Who may drain and restore: the API token and the bearer-token check.

use axum::http::{HeaderMap, StatusCode, header};

use super::error::ApiError;
use crate::config::secret::Secret;

/// The API token: a secret, compared in constant time.
#[derive(Clone, Debug)]
pub struct Token(Secret);

impl Token {
    pub fn new(secret: Secret) -> Token {
        Token(secret)
    }

    /// Constant-time comparison: the time taken does not depend on how much matches.
    fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0
            .expose()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }
}

/// Middleware on the mutating routes: the token is checked before the body is read.
pub(super) async fn require_token(
    axum::extract::State(s): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match authorize(s.token.as_ref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

fn authorize(token: Option<&Token>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "mutations_disabled",
            "this control plane has no API token configured, so it refuses drain and restore; start it with GEOPLAN_API_TOKEN or monitor.token_file",
        ));
    };
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required",
            )
        })?;
    if token.matches(presented.trim()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not valid",
        ))
    }
}
