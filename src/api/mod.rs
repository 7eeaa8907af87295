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

use crate::control::controller::{Command, SharedState, lock};
use crate::control::core::CommandError;
use crate::control::failover::Switch;
use crate::control::status::{self, Deployment, RegionDoc, StatusDoc, SwitchDoc};
use crate::control::watchdog::Watchdog;
use crate::cost::outbox::AlertOutbox;
use crate::store::Store;
use crate::telemetry::Registry;

mod auth;
mod error;
mod page;

pub use auth::Token;
pub use error::ApiError;

pub const OPENAPI: &str = include_str!("openapi.json");

/// How long a connection may take to send a request's headers, and how long it may
/// sit idle between requests, before it is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's read buffer: headers beyond it get hyper's own bare 431.
const READ_BUFFER: usize = 64 * 1024;

/// Serves `app` on `listener` until `cancel`, then lets requests in flight finish (at
/// most 10 s). Connections are HTTP/1.1 with a header-read and idle timeout, so a
/// half-sent or idle connection cannot hold a task and a socket forever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    cancel: tokio_util::sync::CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(READ_BUFFER);
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, never give up serving.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still in flight after 10 s; closing them");
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub shared: SharedState,
    pub commands: mpsc::Sender<Command>,
    pub store: Arc<Store>,
    /// Every metric of the service, for `/metrics`.
    pub metrics: Arc<Registry>,
    pub token: Option<Token>,
    pub deployment: Arc<Deployment>,
    pub ready: Arc<AtomicBool>,
    /// The latest cost report; `None` inside when `[cost]` is absent or not yet polled.
    pub cost: Option<crate::cost::monitor::Latest>,
    /// Progress of the control loop and the probers, for `/healthz`.
    pub watchdog: Arc<Watchdog>,
}

/// How long a drain or restore waits for Route 53 to confirm before it answers 502
/// (under the 15 s request timeout).
pub const FLIP_DEADLINE: Duration = Duration::from_secs(10);

/// The largest request body any endpoint takes (a drain reason is at most
/// `MAX_REASON` bytes; nothing else has a body).
pub const MAX_BODY: usize = 4096;
/// The longest drain reason, in bytes.
pub const MAX_REASON: usize = 512;

pub fn router(state: AppState) -> Router {
    // Mutations check the token before anything reads their body.
    let mutations = Router::new()
        .route("/v1/regions/{name}/drain", post(drain))
        .route("/v1/regions/{name}/restore", post(restore))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
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
        .merge(mutations)
        .merge(page::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(15),
        ))
        .layer(axum::middleware::from_fn(error::limits))
        .layer(axum::middleware::map_response(error::as_json))
        .with_state(state)
}

/// Healthy while the control loop and every prober make progress; a stuck instance
/// answers 503 so that an orchestrator restarts it.
async fn healthz(State(s): State<AppState>) -> Response {
    let stalls = s.watchdog.stalls(std::time::Instant::now());
    if stalls.is_empty() {
        return "ok\n".into_response();
    }
    let which: Vec<String> = stalls
        .iter()
        .map(|st| {
            format!(
                "{} (silent for {:.1} s)",
                st.name,
                st.silent_for.as_secs_f64()
            )
        })
        .collect();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "stalled",
        format!("no progress: {}", which.join(", ")),
    )
    .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    // The encoder writes OpenMetrics text (counters as `_total`, a closing `# EOF`).
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
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
    // `since` is an event id (the `next` cursor of the previous page) or an RFC 3339 time;
    // `tail=true` asks for the newest `limit` events instead.
    enum Since {
        Id(i64),
        Time(std::time::SystemTime),
        Tail,
    }
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad("`tail` must be true or false")),
    };
    if tail && q.contains_key("since") {
        return Err(bad("`tail` and `since` cannot be combined"));
    }
    let since = match q.get("since").map(String::as_str).unwrap_or("0") {
        _ if tail => Since::Tail,
        s if s.parse::<i64>().is_ok() => Since::Id(s.parse().unwrap_or(0)),
        s => Since::Time(humantime::parse_rfc3339_weak(s).map_err(|_| {
            bad("`since` must be an event id or an RFC 3339 time such as 2026-11-27T17:00:00Z")
        })?),
    };
    // SQLite reads run on the blocking pool, on the store's reader connection, so a
    // long scan holds neither an async worker nor the controller's writer.
    let store = s.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let events = match since {
            Since::Id(id) => store.events(id, limit as u32)?,
            Since::Time(t) => store.events_since_time(t, limit as u32)?,
            Since::Tail => store.events_tail(limit as u32)?,
        };
        // The cursor never goes backwards: an empty page keeps the caller's id, or,
        // for a time after every event, points past the newest event.
        let next = match (events.last(), since) {
            (Some(e), _) => e.id,
            (None, Since::Id(id)) => id,
            (None, Since::Time(_) | Since::Tail) => store.last_event_id()?,
        };
        Ok::<_, crate::store::StoreError>((events, next))
    })
    .await;
    let (events, next) = match read {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read events");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot read events",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "event read panicked");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot read events",
            ));
        }
    };
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
        Some(r) => {
            // The budget alerts beside the report: raised, pending delivery, delivered.
            let store = s.store.clone();
            let alerts = match tokio::task::spawn_blocking(move || store.recent_alerts()).await {
                Ok(Ok(alerts)) => alerts,
                _ => {
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "cannot read the alerts",
                    ));
                }
            };
            let mut doc = serde_json::to_value(r).unwrap_or_default();
            doc["alerts"] = json!(alerts);
            Ok(axum::Json(doc).into_response())
        }
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

/// A reason longer than what the event log keeps is refused, not cut.
fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.len() > MAX_REASON {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!(
                "the reason is {} bytes; at most {MAX_REASON} are kept",
                reason.len()
            ),
        ));
    }
    Ok(())
}

/// `POST …/restore`: empty, `null`, or `{"force": true, "reason": "…"}` to override the
/// failback gate (the reason is recorded).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    #[serde(default)]
    force: bool,
    #[serde(default)]
    reason: String,
}

/// A mutation as received, to forward to the actor when this instance is not it.
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// Marks a request forwarded by another instance: it is never forwarded again.
const FORWARDED: &str = "x-geoplan-forwarded-by";

/// Sends the request on to the actor and relays its answer.
async fn forward(s: &AppState, actor: &str, req: Received) -> Result<Response, ApiError> {
    let unavailable = |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_actor", why);
    if req.headers.contains_key(FORWARDED) {
        return Err(unavailable(
            "forwarded here, but this instance is not the actor either; try again in a few seconds"
                .into(),
        ));
    }
    // Past the actor's own 10 s deadline, inside this request's 15 s: an actor that
    // hangs (paused, partitioned) gets a prompt 503, not a 408.
    let client = reqwest::Client::builder()
        .timeout(FLIP_DEADLINE + Duration::from_secs(2))
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    let mut call = client
        .post(format!("{actor}{}", req.path))
        .header(FORWARDED, s.deployment.name.as_str())
        .body(req.body);
    if let Some(auth) = req.headers.get(header::AUTHORIZATION) {
        call = call.header(header::AUTHORIZATION, auth.as_bytes());
    }
    let resp = call
        .send()
        .await
        .map_err(|e| unavailable(format!("cannot reach the actor at {actor}: {e}")))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = resp.bytes().await.unwrap_or_default();
    Ok((
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("x-geoplan-actor"),
                actor.to_owned(),
            ),
        ],
        body,
    )
        .into_response())
}

async fn send(
    s: &AppState,
    req: Received,
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
    let outcome = match tokio::time::timeout(FLIP_DEADLINE, rx).await {
        Ok(r) => r.map_err(|_| unavailable())?,
        Err(_) => {
            let message = format!(
                "{} was not confirmed by Route 53 within {} s; the change stays queued and its outcome will be recorded",
                req.path,
                FLIP_DEADLINE.as_secs()
            );
            // The controller records the change's outcome when it comes; the API only
            // answers (and writes nothing).
            tracing::warn!(%message, "no answer in time");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "route53_failed",
                message,
            ));
        }
    };
    match outcome {
        // `path`: what the flip went through (the deployment's `[monitor] switch`).
        Ok(switch) => Ok(axum::Json(
            json!({ "switch": SwitchDoc::from(&switch), "path": s.deployment.switch }),
        )
        .into_response()),
        Err(CommandError::UnknownRegion(r)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_region",
            format!("no region named {r:?} in this deployment"),
        )),
        Err(CommandError::Refused(why)) => Err(ApiError::new(StatusCode::CONFLICT, "refused", why)),
        Err(CommandError::NotActor(Some(actor))) => forward(s, &actor, req).await,
        Err(CommandError::NotActor(None)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_actor",
            "no instance holds the lease right now; try again in a few seconds",
        )),
        Err(e @ (CommandError::Aws(_) | CommandError::Unconfirmed(_))) => {
            tracing::error!(error = %e, "switch flip failed");
            let message = match e {
                CommandError::Unconfirmed(_) => {
                    "the switch's service (Route 53, or ARC with switch = \"arc\") did not confirm the change (no answer in time, a server error, or a read-back that did not show it): it may have landed; the events will say whether it did"
                }
                _ => {
                    "the switch's service (Route 53, or ARC with switch = \"arc\") did not take the change (refused, or not sent in time); the events say why"
                }
            };
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "route53_failed",
                message,
            ))
        }
    }
}

async fn drain(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body = raw.clone();
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
    check_reason(&body.reason)?;
    let received = Received {
        path: format!("/v1/regions/{name}/drain"),
        headers,
        body: raw,
    };
    send(&s, received, |reply| Command::Drain {
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
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body: RestoreBody = if raw.iter().all(u8::is_ascii_whitespace) {
        RestoreBody::default()
    } else {
        serde_json::from_slice::<Option<RestoreBody>>(&raw)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("expected nothing, or {{\"force\": true, \"reason\": \"…\"}}: {e}"),
                )
            })?
            .unwrap_or_default()
    };
    check_reason(&body.reason)?;
    if body.force && body.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "\"force\" overrides the failback gate and needs a \"reason\", which is recorded",
        ));
    }
    let received = Received {
        path: format!("/v1/regions/{name}/restore"),
        headers,
        body: raw,
    };
    send(&s, received, |reply| Command::Restore {
        region: name,
        force: body.force.then_some(body.reason),
        reply,
    })
    .await
}
