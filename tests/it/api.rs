//! The HTTP API through its router (no socket), plus one request against a real
//! listening server. The controller's command loop is stood in for by a task that
//! answers commands the way the controller does, so every HTTP path is exercised
//! without AWS; the real controller is tested end to end in `serve`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use geoplan::api::{AppState, Token};
use geoplan::config::secret::Secret;
use geoplan::control::controller::{Command, Shared};
use geoplan::control::core::{CommandError, RegionState};
use geoplan::control::failover::{Cause, Switch};
use geoplan::control::metrics::{ControlMetrics, ProbeLabel, RegionLabel};
use geoplan::control::status::Deployment;
use geoplan::control::verdict::Tracker;
use geoplan::control::watchdog::Watchdog;
use geoplan::cost::metrics::CostMetrics;
use geoplan::deploy::outputs::CheckIds;
use geoplan::store::Store;
use geoplan::telemetry::Registry;
use serde_json::Value;
use tower::ServiceExt;

struct Harness {
    state: AppState,
    /// Registered in `state.metrics`, for tests to give them values.
    control_metrics: ControlMetrics,
    cost_metrics: CostMetrics,
    _dir: tempfile::TempDir,
}

fn harness(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), "shop").unwrap());
    store
        .record(
            SystemTime::now(),
            Some("eu-west-1"),
            "failover",
            "eu-west-1 taken out of service: eu-west-1 is down",
        )
        .unwrap();
    store
        .record(SystemTime::now(), None, "start", "control plane started")
        .unwrap();
    let region = |name: &str, in_service: bool| RegionState {
        name: name.into(),
        tracker: Tracker::default(),
        decided: geoplan::control::verdict::Verdict::Up,
        switch_version: Some(1),
        read_after: None,
        confirmed_at: None,
        record: None,
        vantages: Vec::new(),
        switch: if in_service {
            Switch::in_service()
        } else {
            Switch {
                in_service: false,
                cause: Some(Cause::Automatic),
                reason: Some("down".into()),
                since: Some(SystemTime::now()),
            }
        },
        last_action: None,
        route53_status: Some(true),
        checks: CheckIds {
            endpoint: format!("e-{name}"),
            switch: format!("s-{name}"),
            region: format!("r-{name}"),
            control: None,
        },
        last_problem: None,
        gated: false,
        replication: None,
        failback: None,
        held_since: None,
        held_for: None,
        recovery: None,
    };
    let shared = Arc::new(Mutex::new(Shared {
        regions: vec![region("us-east-1", true), region("eu-west-1", false)],
        started: SystemTime::now(),
        control: None,
        dns: Default::default(),
    }));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Command>(4);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Drain {
                    region,
                    reason,
                    reply,
                } => {
                    let r = match region.as_str() {
                        "us-east-1" => Err(CommandError::Refused(
                            "draining us-east-1 would leave 0 region(s) in service".into(),
                        )),
                        "eu-west-1" => Ok(Switch {
                            in_service: false,
                            cause: Some(Cause::Manual),
                            reason: Some(reason),
                            since: None,
                        }),
                        _ => Err(CommandError::UnknownRegion(region)),
                    };
                    let _ = reply.send(r);
                }
                Command::Restore { region, reply, .. } => {
                    let r = if region == "nowhere-1" {
                        Err(CommandError::UnknownRegion(region))
                    } else {
                        Ok(Switch::in_service())
                    };
                    let _ = reply.send(r);
                }
            }
        }
    });
    let text = std::fs::read_to_string(crate::support::repo().join("examples/active-active.toml"))
        .unwrap();
    let (config, _) =
        geoplan::config::compile("active-active.toml", &text, std::path::Path::new("/"));
    let module = geoplan::deploy::model::build(&config.unwrap(), "active-active.toml", None);
    let mut registry = Registry::default();
    let control_metrics = ControlMetrics::new(&mut registry);
    let cost_metrics = CostMetrics::new(&mut registry);
    let state = AppState {
        shared,
        commands: tx,
        store,
        metrics: Arc::new(registry),
        token: token.and_then(Secret::new).map(Token::new),
        deployment: Arc::new(Deployment {
            name: "shop".into(),
            pattern: "active-active",
            automatic: true,
            records: module.records,
            switch: "route53",
        }),
        ready: Arc::new(AtomicBool::new(true)),
        cost: None,
        watchdog: Arc::new(Watchdog::new(
            vec!["controller".into()],
            Duration::from_secs(5),
        )),
    };
    Harness {
        state,
        control_metrics,
        cost_metrics,
        _dir: dir,
    }
}

async fn call(
    h: &Harness,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = geoplan::api::router(h.state.clone())
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn status_reports_regions_switches_and_effective_routing() {
    let h = harness(None);
    let (code, body) = call(&h, "GET", "/v1/status", None, "").await;
    assert_eq!(code, StatusCode::OK);
    let doc = json(&body);
    assert_eq!(doc["deployment"], "shop");
    assert_eq!(doc["regions"][1]["name"], "eu-west-1");
    assert_eq!(doc["regions"][1]["switch"]["in_service"], false);
    assert_eq!(doc["regions"][1]["switch"]["cause"], "automatic");
    assert_eq!(doc["routing"][0]["name"], "api.shop.example.com");
    assert_eq!(
        doc["routing"][0]["regions"],
        serde_json::json!(["us-east-1"]),
        "the region out of service gets no traffic"
    );
    assert_eq!(doc["routing"][0]["fail_open"], false);

    let (code, body) = call(&h, "GET", "/v1/regions/eu-west-1", None, "").await;
    assert_eq!(
        (code, json(&body)["health_checks"]["switch"].clone()),
        (StatusCode::OK, Value::from("s-eu-west-1"))
    );
    let (code, body) = call(&h, "GET", "/v1/regions/mars-1", None, "").await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, Value::from("unknown_region"))
    );
}

#[tokio::test]
async fn events_page_with_a_cursor_and_reject_bad_queries() {
    let h = harness(None);
    let (code, body) = call(&h, "GET", "/v1/events?limit=1", None, "").await;
    assert_eq!(code, StatusCode::OK);
    let page = json(&body);
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["kind"], "failover");
    let next = page["next"].as_i64().unwrap();
    let (_, body) = call(&h, "GET", &format!("/v1/events?since={next}"), None, "").await;
    assert_eq!(json(&body)["events"][0]["kind"], "start");
    let (_, body) = call(&h, "GET", "/v1/events?since=2000-01-01T00:00:00Z", None, "").await;
    assert_eq!(
        json(&body)["events"].as_array().unwrap().len(),
        2,
        "a time selects by when"
    );
    let (_, body) = call(&h, "GET", "/v1/events?since=2999-01-01T00:00:00Z", None, "").await;
    let page = json(&body);
    assert!(page["events"].as_array().unwrap().is_empty());
    assert_eq!(
        page["next"], 2,
        "a time after every event points past the newest, never back to 0"
    );
    let (_, body) = call(&h, "GET", "/v1/events?since=2", None, "").await;
    assert_eq!(
        json(&body)["next"],
        2,
        "an empty page keeps the caller's cursor"
    );
    // The newest events, for a page that starts at the end of the log.
    let (_, body) = call(&h, "GET", "/v1/events?tail=true&limit=1", None, "").await;
    let page = json(&body);
    assert_eq!(
        (
            page["events"].as_array().unwrap().len(),
            page["events"][0]["kind"].clone(),
            page["next"].clone()
        ),
        (1, Value::from("start"), Value::from(2))
    );
    for bad in [
        "/v1/events?limit=0",
        "/v1/events?limit=5000",
        "/v1/events?since=yesterday",
        "/v1/events?tail=yes",
        "/v1/events?tail=true&since=1",
    ] {
        let (code, body) = call(&h, "GET", bad, None, "").await;
        assert_eq!(
            (code, json(&body)["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, Value::from("bad_query")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn mutations_need_a_configured_token_and_the_right_bearer() {
    let none = harness(None);
    let (code, body) = call(
        &none,
        "POST",
        "/v1/regions/eu-west-1/drain",
        Some("Bearer anything"),
        "",
    )
    .await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, Value::from("mutations_disabled"))
    );

    let h = harness(Some("s3cret-token"));
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic s3cret-token"),
        Some("Bearer s3cret-toke"),
    ] {
        let (code, body) = call(&h, "POST", "/v1/regions/eu-west-1/drain", auth, "").await;
        assert_eq!(
            (code, json(&body)["error"]["code"].clone()),
            (StatusCode::UNAUTHORIZED, Value::from("unauthorized")),
            "{auth:?}"
        );
        assert!(
            !body.contains("s3cret"),
            "the token never appears in a response"
        );
    }
    let ok = Some("Bearer s3cret-token");
    let (code, body) = call(
        &h,
        "POST",
        "/v1/regions/eu-west-1/drain",
        ok,
        r#"{"reason": "maintenance"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["switch"]["reason"], "maintenance");
    let (code, body) = call(&h, "POST", "/v1/regions/us-east-1/drain", ok, "").await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::CONFLICT, Value::from("refused"))
    );
    let (code, _) = call(&h, "POST", "/v1/regions/mars-1/drain", ok, "").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, body) = call(
        &h,
        "POST",
        "/v1/regions/eu-west-1/drain",
        ok,
        r#"{"reason": 5}"#,
    )
    .await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, Value::from("bad_body"))
    );
    let (code, _) = call(
        &h,
        "POST",
        "/v1/regions/eu-west-1/drain",
        ok,
        r#"{"reasn": "typo"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "unknown fields are rejected");
    let (code, body) = call(&h, "POST", "/v1/regions/eu-west-1/restore", ok, "").await;
    assert_eq!(
        (code, json(&body)["switch"]["in_service"].clone()),
        (StatusCode::OK, Value::from(true))
    );
    assert!(format!("{:?}", h.state.token).contains("redacted"));
}

#[tokio::test]
async fn health_metrics_openapi_and_unknown_paths() {
    let h = harness(None);
    assert_eq!(
        call(&h, "GET", "/healthz", None, "").await.0,
        StatusCode::OK
    );
    assert_eq!(call(&h, "GET", "/readyz", None, "").await.0, StatusCode::OK);
    h.state
        .ready
        .store(false, std::sync::atomic::Ordering::Release);
    assert_eq!(
        call(&h, "GET", "/readyz", None, "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (code, body) = call(&h, "GET", "/openapi.json", None, "").await;
    assert_eq!(code, StatusCode::OK);
    let doc = json(&body);
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/status",
        "/v1/regions/{name}",
        "/v1/events",
        "/v1/regions/{name}/drain",
        "/v1/regions/{name}/restore",
        "/v1/cost",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI documents {path}");
    }
    let (code, body) = call(&h, "GET", "/v1/cost", None, "").await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, Value::from("cost_not_configured"))
    );
    // The status page and its files: compiled in, typed, locked to this origin.
    for (path, media) in [
        ("/", "text/html; charset=utf-8"),
        ("/page/app.js", "text/javascript; charset=utf-8"),
        ("/page/view.js", "text/javascript; charset=utf-8"),
        ("/page/style.css", "text/css; charset=utf-8"),
        ("/page/world.svg", "image/svg+xml"),
    ] {
        let resp = geoplan::api::router(h.state.clone())
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers();
        assert_eq!(headers["content-type"], media, "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'; script-src 'self'"),
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (code, body) = call(&h, "GET", "/page/../Cargo.toml", None, "").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let (code, body) = call(&h, "GET", "/page/secret.js", None, "").await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, Value::from("not_found"))
    );
    let (code, body) = call(&h, "GET", "/v2/nothing", None, "").await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, Value::from("not_found"))
    );
}

#[tokio::test]
async fn a_real_server_on_port_zero_answers_and_the_cli_reads_it() {
    let h = harness(Some("t0k"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(axum::serve(listener, geoplan::api::router(h.state.clone())).into_future());
    let url = format!("http://{addr}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_geoplan"))
        .args(["status", "--url", &url])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("shop (active-active), automatic failover on\n"),
        "{text}"
    );
    // The harness's eu-west-1: verdict up (no probes yet), switch out automatically.
    assert!(
        text.contains(
            "eu-west-1        up          healthy    OUT       automatic      none yet\n                 └ down\n"
        ),
        "{text}"
    );
    assert!(text.contains("api.shop.example.com"), "{text}");
    // On a terminal (a pty from util-linux `script`), colour; with NO_COLOR, none.
    let coloured = status_on_a_terminal(&url, false).await;
    assert!(
        coloured.contains("\x1b[1;31mOUT      \x1b[0m"),
        "the switch that is out is red: {coloured:?}"
    );
    assert!(
        coloured.contains("\x1b[32mup         \x1b[0m"),
        "{coloured:?}"
    );
    let plain = status_on_a_terminal(&url, true).await;
    assert!(!plain.contains('\x1b'), "NO_COLOR: {plain:?}");
    assert!(
        plain.contains("eu-west-1        up          healthy    OUT"),
        "{plain:?}"
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_geoplan"))
        .args(["drain", "us-east-1", "--url", &url, "--reason", "x"])
        .env("GEOPLAN_API_TOKEN", "t0k")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "a refused drain exits 6");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("would leave 0 region(s) in service (refused, HTTP 409)")
    );
    server.abort();
}

async fn call_with(
    h: &Harness,
    req: axum::http::request::Builder,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = geoplan::api::router(h.state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (parts.status, parts.headers, json(&text))
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_and_every_error_is_json() {
    let h = harness(Some("s3cret-token"));
    let drain = || {
        Request::builder()
            .method("POST")
            .uri("/v1/regions/eu-west-1/drain")
    };
    // 10 MB without a token: refused for the token, not for the size.
    let (code, _, body) = call_with(&h, drain(), vec![b' '; 10 << 20]).await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, Value::from("unauthorized"))
    );
    let authed = || drain().header("authorization", "bearer s3cret-token");
    let (code, _, body) = call_with(&h, authed(), vec![b' '; 5000]).await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, Value::from("body_too_large")),
        "a lowercase scheme is accepted; the body is bounded"
    );
    let long = format!(r#"{{"reason": "{}"}}"#, "x".repeat(513));
    let (code, _, body) = call_with(&h, authed(), long.into_bytes()).await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, Value::from("bad_body"))
    );
    assert_eq!(
        body["error"]["message"],
        "the reason is 513 bytes; at most 512 are kept"
    );
    let (code, headers, body) = call_with(
        &h,
        Request::builder()
            .method("GET")
            .uri("/v1/regions/eu-west-1/drain")
            .header("authorization", "Bearer s3cret-token"),
        vec![],
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Value::from("method_not_allowed")
        )
    );
    assert_eq!(
        headers["allow"], "POST",
        "the allowed method is still named"
    );
    let uri = format!("/v1/status?pad={}", "a".repeat(9000));
    let (code, _, body) = call_with(&h, Request::builder().uri(uri), vec![]).await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::URI_TOO_LONG, Value::from("uri_too_long"))
    );
    let (code, _, body) = call_with(
        &h,
        Request::builder()
            .uri("/v1/status")
            .header("x-pad", "b".repeat(17_000)),
        vec![],
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Value::from("headers_too_large")
        )
    );
}

#[tokio::test]
async fn healthz_fails_when_a_loop_stops_making_progress() {
    let mut h = harness(None);
    let (code, _) = call(&h, "GET", "/healthz", None, "").await;
    assert_eq!(code, StatusCode::OK);
    // A bound of zero: any loop that has not beaten this instant counts as stalled.
    h.state.watchdog = Arc::new(Watchdog::new(vec!["controller".into()], Duration::ZERO));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (code, body) = call(&h, "GET", "/healthz", None, "").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(body["error"]["code"], "stalled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no progress: controller (silent for "),
        "{body}"
    );
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(geoplan::api::serve(
        listener,
        geoplan::api::router(h.state.clone()),
        cancel.clone(),
    ));
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let limit = geoplan::api::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    for (what, conn) in [("idle", &mut idle), ("half-sent", &mut half)] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(limit, conn.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "the {what} connection was not closed within {limit:?}"
        );
    }
    assert!(started.elapsed() >= geoplan::api::HEADER_READ_TIMEOUT - Duration::from_secs(1));
    cancel.cancel();
    server.await.unwrap();
}

/// The metrics as a strict OpenMetrics parser sees them (Python's prometheus_client,
/// installed by localstack/setup.sh): the family names, or the parser's complaint.
fn parse_openmetrics(text: &str) -> Result<Vec<String>, String> {
    use std::io::Write;
    let python = std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nprint('\\n'.join(sorted(f.name for f in p(sys.stdin.read()))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run localstack/setup.sh"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "{stderr}\nthe OpenMetrics parser is missing: run localstack/setup.sh"
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    } else {
        Err(stderr.into_owned())
    }
}

#[tokio::test]
async fn metrics_are_valid_openmetrics_with_the_matching_content_type() {
    let h = harness(None);
    let m = &h.control_metrics;
    m.set_in_service("eu-west-1", false);
    m.set_verdict("eu-west-1", geoplan::control::verdict::Verdict::Down);
    m.count_action("eu-west-1", "take-out");
    let lag = geoplan::control::failback::TableLag {
        table: "shop-carts".into(),
        lag_seconds: Some(1.5),
        age_seconds: Some(20.0),
    };
    m.observe_recovery(
        "eu-west-1",
        &geoplan::control::failback::Recovery {
            kind: "failover",
            at: std::time::SystemTime::now(),
            recovery_time: Some(std::time::Duration::from_millis(900)),
            dns_time: None,
            dns_outcome: None,
            recovery_point: vec![lag.clone()],
            replicated: true,
            out_for: None,
            held_for: None,
        },
    );
    m.observe_dns_recovery("eu-west-1", "failover", std::time::Duration::from_secs(2));
    m.set_failback("eu-west-1", Some("lagging"), &[lag]);
    let cost = &h.cost_metrics;
    cost.count_cost_poll(true);
    cost.set_budget_fraction(0.5);
    m.probe_latency
        .get_or_create(&RegionLabel {
            region: "eu-west-1".into(),
        })
        .observe(0.012);
    m.probes
        .get_or_create(&ProbeLabel {
            region: "eu-west-1".into(),
            outcome: "ok".into(),
        })
        .inc();
    let resp = geoplan::api::router(h.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let families = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for family in [
        "geoplan_actions",
        "geoplan_switch_confirmations",
        "geoplan_budget_fraction",
        "geoplan_cost_polls",
        "geoplan_log_write_errors",
        "geoplan_probe_latency_seconds",
        "geoplan_probes",
        "geoplan_region_in_service",
        "geoplan_region_verdict",
        "geoplan_route53_requests",
        "geoplan_route53_throttled",
        "geoplan_is_actor",
        "geoplan_leadership_changes",
        "geoplan_lease_renew_seconds",
        "geoplan_control_tables_reachable",
        "geoplan_recovery_time_seconds",
        "geoplan_recovery_point_seconds",
        "geoplan_failback_held",
        "geoplan_replication_lag_seconds",
    ] {
        assert!(
            families.iter().any(|f| f == family),
            "{family} in {families:?}"
        );
    }
    // The parser is strict: a TYPE that does not match its samples is rejected.
    assert!(parse_openmetrics("# TYPE x counter\nx 1\n# EOF\n").is_err());
}

/// `geoplan status` with stdout on a terminal: a pty from util-linux `script`.
async fn status_on_a_terminal(url: &str, no_color: bool) -> String {
    let mut cmd = tokio::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} status --url {url}", env!("CARGO_BIN_EXE_geoplan")),
        "/dev/null",
    ]);
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let out = cmd.output().await.expect("util-linux script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The routes the router declares (read from its source, `.route("PATH", METHOD(…))`)
/// and the paths and methods the OpenAPI document lists are the same set, and every
/// documented one is served (not the 404 fallback, not a 405).
#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let mut declared = std::collections::BTreeSet::new();
    for file in ["src/api/mod.rs", "src/api/page.rs"] {
        let text = std::fs::read_to_string(crate::support::repo().join(file)).unwrap();
        for (i, _) in text.match_indices(".route(") {
            let rest = text[i + ".route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue; // `.route_layer(`
            };
            let path = &rest[..rest.find('"').unwrap()];
            let after = rest[path.len() + 1..].trim_start_matches([',', ' ', '\n']);
            let method = after.split('(').next().unwrap().trim();
            declared.insert((method.to_owned(), path.to_owned()));
        }
    }
    assert!(declared.len() >= 10, "{declared:?}");
    let doc: Value = serde_json::from_str(geoplan::api::OPENAPI).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(declared, documented, "routes served vs routes documented");
    let h = harness(Some("t0ken"));
    for (method, path) in &documented {
        let uri = path.replace(
            "{name}",
            if path.starts_with("/page/") {
                "app.js"
            } else {
                "eu-west-1"
            },
        );
        let resp = geoplan::api::router(h.state.clone())
            .oneshot(
                Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .header("authorization", "Bearer wrong")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .map(|v| v["error"]["code"].clone());
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && code == Some(Value::from("not_found"))),
            "{method} {uri}: {status} {code:?}"
        );
    }
}
