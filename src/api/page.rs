//! The status page at `GET /`: one HTML file, its script, style sheet and world map,
//! compiled into the binary (no CDN, no build step). The page reads the same JSON API
//! as any client, so it needs no token to look and asks for one to drain or restore.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::error::ApiError;

const INDEX: &str = include_str!("page/index.html");

/// The page's files under `/page/`, with their media types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    ),
    (
        "view.js",
        "text/javascript; charset=utf-8",
        include_str!("page/view.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("page/style.css"),
    ),
    ("world.svg", "image/svg+xml", include_str!("page/world.svg")),
];

/// Only this origin's own files and API: no inline script, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route("/page/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, ..)| *n == name) {
        Some((_, media, body)) => file(media, body),
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page file").into_response()
        }
    }
}

fn file(media: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    // The files change with the binary: revalidate rather than cache across upgrades.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_that_are_served() {
        for reference in INDEX
            .split(['"', '\''])
            .filter(|s| s.starts_with("/page/"))
            .chain(ASSETS.iter().flat_map(|(_, _, body)| {
                body.split(['"', '\'', '`'])
                    .filter(|s| s.starts_with("./") || s.starts_with("/page/"))
            }))
        {
            let name = reference
                .trim_start_matches("/page/")
                .trim_start_matches("./")
                .split('#')
                .next()
                .unwrap_or_default();
            assert!(
                ASSETS.iter().any(|(n, ..)| *n == name),
                "{reference} is referenced but not served"
            );
        }
    }
}
