//! The control plane's HTTP API: JSON status, events, drain/restore, health, metrics.
//! Only HTTP lives here: handlers read the shared state and send commands to the
//! controller, which is the only writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::control::controller::{Command, CommandError, SharedState, lock};
use crate::control::failover::Switch;
use crate::control::metrics::Metrics;
use crate::control::status::{self, Deployment, RegionDoc, StatusDoc, SwitchDoc};
use crate::control::store::Store;

mod auth;
mod error;

pub use auth::Token;
pub use error::ApiError;

pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct AppState {
    pub shared: SharedState,
    pub commands: mpsc::Sender<Command>,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub token: Option<Token>,
    pub deployment: Arc<Deployment>,
    pub ready: Arc<AtomicBool>,
    /// The latest cost report; `None` inside when `[cost]` is absent or not yet polled.
    pub cost: Option<crate::cost::monitor::Latest>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/status", get(status))
        .route("/v1/regions/{name}", get(region))
        .route("/v1/events", get(events))
        .route("/v1/cost", get(cost))
        .route("/v1/regions/{name}/drain", post(drain))
        .route("/v1/regions/{name}/restore", post(restore))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(15),
        ))
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

pub fn status_doc(s: &AppState) -> StatusDoc {
    status::document(&lock(&s.shared), &s.deployment)
}

async fn status(State(s): State<AppState>) -> axum::Json<StatusDoc> {
    axum::Json(status_doc(&s))
}

async fn region(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<RegionDoc>, ApiError> {
    status_doc(&s)
        .regions
        .into_iter()
        .find(|r| r.name == name)
        .map(axum::Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_region",
                format!("no region named {name:?} in this deployment"),
            )
        })
}

async fn events(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", m);
    let limit: i64 = match q.get("limit") {
        None => 100,
        Some(v) => v.parse().map_err(|_| bad("`limit` must be an integer"))?,
    };
    if !(1..=1000).contains(&limit) {
        return Err(bad("`limit` must be between 1 and 1000"));
    }
    // `since` is an event id (the `next` cursor of the previous page) or an RFC 3339 time.
    let since = q.get("since").map(String::as_str).unwrap_or("0");
    let result = match since.parse::<i64>() {
        Ok(id) => s.store.events(id, limit as u32),
        Err(_) => {
            let t = humantime::parse_rfc3339_weak(since).map_err(|_| {
                bad("`since` must be an event id or an RFC 3339 time such as 2026-11-27T17:00:00Z")
            })?;
            s.store.events_since_time(t, limit as u32)
        }
    };
    let events = result.map_err(|e| {
        tracing::error!(error = %e, "cannot read events");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot read events",
        )
    })?;
    let next = events
        .last()
        .map_or_else(|| since.parse::<i64>().unwrap_or(0), |e| e.id);
    Ok(axum::Json(json!({ "events": events, "next": next })).into_response())
}

async fn cost(State(s): State<AppState>) -> Result<Response, ApiError> {
    let Some(latest) = &s.cost else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "cost_not_configured",
            "this deployment has no [cost] section",
        ));
    };
    let report = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match report {
        Some(r) => Ok(axum::Json(r).into_response()),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cost_pending",
            "the first Cost Explorer poll has not completed",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    #[serde(default)]
    reason: String,
}

async fn send(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<Result<Switch, CommandError>>) -> Command,
) -> Result<Response, ApiError> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the control plane is shutting down",
        )
    };
    s.commands.send(make(tx)).await.map_err(|_| unavailable())?;
    match rx.await.map_err(|_| unavailable())? {
        Ok(switch) => Ok(axum::Json(json!({ "switch": SwitchDoc::from(&switch) })).into_response()),
        Err(CommandError::UnknownRegion(r)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_region",
            format!("no region named {r:?} in this deployment"),
        )),
        Err(CommandError::Refused(why)) => Err(ApiError::new(StatusCode::CONFLICT, "refused", why)),
        Err(CommandError::Aws(e)) => {
            tracing::error!(error = %e, "switch flip failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "route53_failed",
                "Route 53 did not accept the change; see the control plane's log",
            ))
        }
    }
}

async fn drain(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::authorize(s.token.as_ref(), &headers)?;
    let body: DrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        DrainBody {
            reason: String::new(),
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("expected {{\"reason\": \"…\"}}: {e}"),
            )
        })?
    };
    send(&s, |reply| Command::Drain {
        region: name,
        reason: body.reason,
        reply,
    })
    .await
}

async fn restore(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::authorize(s.token.as_ref(), &headers)?;
    send(&s, |reply| Command::Restore {
        region: name,
        reply,
    })
    .await
}
