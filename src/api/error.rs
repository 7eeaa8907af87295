//! The API's error shape: `{"error": {"code", "message"}}` with a stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error as the API shows it: a stable code and a message with no internals.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

/// The longest request target accepted, in bytes.
pub const MAX_URI: usize = 8 * 1024;
/// The most header bytes accepted (names and values).
pub const MAX_HEADERS: usize = 16 * 1024;

/// Refuses over-long request targets (414) and header sections (431) in the JSON
/// shape. hyper refuses larger ones still (beyond its 64 KiB read buffer) on its own,
/// with an empty body, before any of this code runs.
pub(super) async fn limits(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri().to_string().len();
    if uri > MAX_URI {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {uri} bytes; at most {MAX_URI} are accepted"),
        )
        .into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers > MAX_HEADERS {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the headers are {headers} bytes; at most {MAX_HEADERS} are accepted"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Every error leaves in the documented shape, including those that axum and
/// tower-http produce themselves (405 without a route, 413 past the body limit, 408
/// after the timeout, a rejected extractor), which answer in plain text or empty.
pub(super) async fn as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ if status.is_client_error() => "bad_request",
        _ => "internal",
    };
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than {} bytes", super::MAX_BODY)
        }
        StatusCode::REQUEST_TIMEOUT => "the request took too long".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    // Keep what the original said about the method (405's Allow) or retrying.
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}
