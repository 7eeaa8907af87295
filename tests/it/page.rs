//! The status page at `/`: its pure functions under node's test runner, and the page
//! itself in headless Chromium against a real `geoplan serve` (emulator, local
//! endpoints, seeded Cost Explorer): regions on the map, a failover in the timeline
//! seconds after an endpoint dies, the heat map, a refused drain, the stale banner,
//! and screenshots at two widths in `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

use crate::cost::{page, seed_pages};
use crate::serve::{Serve, TOKEN, config};
use crate::support::*;

#[test]
fn view_functions() {
    let out = Command::new("node")
        .args(["--test", "tests/page/"])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}); install Node.js ≥ 18 (Debian: apt-get install nodejs)")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node --test failed:\n{text}");
    // The runner's own count: the eight test groups ran, none skipped.
    assert!(
        text.contains("# pass 8") && text.contains("# skipped 0"),
        "{text}"
    );
}

/// Chromium from `GEOPLAN_CHROMIUM` or the PATH; a clear failure, never a skip.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("GEOPLAN_CHROMIUM") {
        return p.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return String::from_utf8_lossy(&out.stdout).trim().into();
        }
    }
    panic!(
        "the page test needs Chromium: run localstack/setup.sh (it installs Debian's \
         `chromium` package) or set GEOPLAN_CHROMIUM to a Chrome or Chromium binary"
    );
}

fn browser(width: u32, height: u32) -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .window_size(Some((width, height)))
        // Root in a container has no user namespace for the sandbox.
        .sandbox(false)
        .idle_browser_timeout(Duration::from_secs(600))
        .build()
        .expect("launch options");
    Browser::new(options).expect("start headless Chromium")
}

/// Evaluates a JS expression in the page; its value comes back as JSON.
fn js(tab: &Tab, expr: &str) -> Value {
    let json = tab
        .evaluate(&format!("JSON.stringify({expr})"), false)
        .unwrap_or_else(|e| panic!("evaluating {expr}: {e}"))
        .value;
    match json {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap(),
        _ => Value::Null,
    }
}

/// Waits until the JS expression is true in the page.
fn until(tab: &Tab, what: &str, expr: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if js(tab, expr) == Value::Bool(true) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not within {within:?}: {what}\npage text:\n{}",
            js(tab, "document.body.innerText")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    let dir = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
}

/// Clicks a button, fills the drain dialog and sends it; returns the answer shown.
fn drain_from_page(tab: &Tab, region: &str, token: &str) -> (String, bool) {
    js(
        tab,
        "document.getElementById('action-result').hidden = true",
    );
    tab.find_element(&format!(
        "tr[data-region='{region}'] button[data-action='drain']"
    ))
    .unwrap()
    .click()
    .unwrap();
    tab.wait_for_element("#ask[open]").unwrap();
    tab.find_element("#ask-reason")
        .unwrap()
        .type_into("maintenance")
        .unwrap();
    let field = tab.find_element("#ask-token").unwrap();
    js(tab, "document.getElementById('ask-token').value = ''");
    field.type_into(token).unwrap();
    tab.find_element("#ask-ok").unwrap().click().unwrap();
    until(
        tab,
        "the server's answer is shown",
        "(() => { const r = document.getElementById('action-result'); \
         return !r.hidden && !r.textContent.includes('waiting'); })()",
        Duration::from_secs(15),
    );
    let text = js(tab, "document.getElementById('action-result').textContent");
    let refused = js(
        tab,
        "document.getElementById('action-result').classList.contains('refused')",
    );
    (
        text.as_str().unwrap_or_default().to_owned(),
        refused == Value::Bool(true),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_regions_failover_cost_and_staleness_in_chromium() {
    let emu = Emulator::moto(); // Cost Explorer: not in LocalStack community
    let mut us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_new().await;
    let r53 = emu.route53().await;
    create_region_checks(&r53, "drill", "us-east-1", us.port).await;
    create_region_checks(&r53, "drill", "eu-west-1", eu.port).await;
    // This month's transfer: us-east-1 → eu-west-1 the most, the reverse a quarter.
    let today = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let day = &today[..10];
    seed_pages(
        &emu,
        vec![page(
            &[
                (day, "USE1-EU-AWS-Out-Bytes", 400.0, 8.0),
                (day, "EU-USE1-AWS-Out-Bytes", 100.0, 2.0),
            ],
            None,
        )],
    )
    .await;
    let text = config(us.port, eu.port)
        + "\n[cost]\nmonthly_budget_usd = 50\nalert_at = [0.5, 0.8]\npoll = \"1h\"\n";
    let wd = Workdir::with_text("regions.toml", &text);
    let serve = Serve::start(wd.path(), &emu).await;
    let url = serve.url.clone();

    let wide = tokio::task::block_in_place(|| {
        let browser = browser(1280, 1000);
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&url).unwrap();
        until(
            &tab,
            "both regions on the map, in service",
            "document.querySelectorAll('.marker[data-state=\"in-service\"]').length === 2",
            Duration::from_secs(10),
        );
        // Placed by the projection from the region's coordinates (N. Virginia, Ireland).
        let at = |r: &str| {
            js(
                &tab,
                &format!(
                    "(() => {{ const c = document.querySelector('.marker[data-region=\"{r}\"] circle'); \
                     return [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]; }})()"
                ),
            )
        };
        assert_eq!(at("us-east-1"), serde_json::json!([284.8, 124.9]));
        assert_eq!(at("eu-west-1"), serde_json::json!([482.6, 85.1]));
        assert_eq!(
            js(
                &tab,
                "document.querySelector('#routing [data-record]').textContent"
            ),
            "api.drill.example.com (latency) → us-east-1, eu-west-1"
        );
        // The heat map: the seeded pair at the top of the scale, its reverse (a quarter
        // of it) half-way between the scale's first two stops,
        // the same region on both axes a dash.
        until(
            &tab,
            "the heat map",
            "document.querySelectorAll('#heatmap td.cell').length === 4",
            Duration::from_secs(10),
        );
        let cell = |from: &str, to: &str| {
            js(
                &tab,
                &format!(
                    "(() => {{ const c = document.querySelector('#heatmap td[data-from=\"{from}\"][data-to=\"{to}\"]'); \
                     return [c.textContent, getComputedStyle(c).backgroundColor]; }})()"
                ),
            )
        };
        assert_eq!(
            cell("us-east-1", "eu-west-1"),
            serde_json::json!(["$8.00", "rgb(128, 0, 38)"])
        );
        assert_eq!(
            cell("eu-west-1", "us-east-1"),
            serde_json::json!(["$2.00", "rgb(254, 198, 132)"])
        );
        assert_eq!(cell("us-east-1", "us-east-1")[0], "—");
        let month = &day[..7];
        assert_eq!(
            js(&tab, "document.getElementById('cost-state').textContent"),
            format!(
                "{month}, from Cost Explorer: transfer $10.00, replication $0.00. \
                 Scope: tag geoplan:name=drill."
            )
        );
        // The burn-up: spend line, forecast, two thresholds and the budget.
        assert_eq!(
            js(
                &tab,
                "[...document.querySelectorAll('#burnup line')].map(l => l.getAttribute('class')).join(' ')"
            ),
            "axis axis threshold threshold budget spend forecast"
        );
        screenshot(&tab, "page-1280.png");
        js(
            &tab,
            "document.getElementById('cost-panel').scrollIntoView()",
        );
        screenshot(&tab, "page-1280-cost.png");
        js(&tab, "window.scrollTo(0, 0)");
        (browser, tab)
    });

    // Kill an endpoint: the page shows the failover, with its measured duration.
    let killed = Instant::now();
    us.stop().await;
    let shown = tokio::task::block_in_place(|| {
        let (_browser, tab) = &wide;
        until(
            tab,
            "the failover in the timeline and on the map",
            "document.querySelector('#timeline li[data-kind=\"failover\"][data-region=\"us-east-1\"] .took') !== null \
             && document.querySelector('.marker[data-region=\"us-east-1\"]').dataset.state === 'out'",
            Duration::from_secs(10),
        );
        let took = js(
            tab,
            "document.querySelector('#timeline li[data-kind=\"failover\"] .took').textContent",
        );
        assert!(
            took.as_str().unwrap().ends_with(" s") || took.as_str().unwrap().ends_with(" ms"),
            "{took}"
        );
        // Newest first.
        assert_eq!(
            js(tab, "document.querySelector('#timeline li').dataset.kind"),
            "failover"
        );
        assert_eq!(
            js(
                tab,
                "document.querySelector('tr[data-region=\"us-east-1\"] .state').textContent"
            ),
            "out"
        );
        killed.elapsed()
    });
    eprintln!(
        "failover visible on the page {:.2} s after the endpoint died",
        shown.as_secs_f64()
    );

    // Drain from the page: a wrong token, then the right one, which the guard refuses
    // (eu-west-1 is the last region in service). Both answers are shown.
    tokio::task::block_in_place(|| {
        let (_browser, tab) = &wide;
        let (text, refused) = drain_from_page(tab, "eu-west-1", "wrong-token");
        assert!(refused && text.contains("HTTP 401"), "{text}");
        let (text, refused) = drain_from_page(tab, "eu-west-1", TOKEN);
        assert!(refused && text.contains("min_in_service"), "{text}");
        screenshot(tab, "page-1280-failover.png");
    });

    // Phone width: everything fits the screen's width (tables scroll in their box).
    tokio::task::block_in_place(|| {
        // A headless window is at least 500 px wide: emulate the phone's viewport.
        let browser = browser(1280, 1000);
        let tab = browser.new_tab().unwrap();
        tab.call_method(SetDeviceMetricsOverride {
            width: 390,
            height: 844,
            device_scale_factor: 1.0,
            mobile: true,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: None,
            viewport: None,
            display_feature: None,
            device_posture: None,
        })
        .unwrap();
        tab.navigate_to(&url).unwrap();
        until(
            &tab,
            "regions at phone width",
            "document.querySelectorAll('.marker').length === 2 && document.querySelectorAll('#timeline li').length > 0",
            Duration::from_secs(10),
        );
        assert_eq!(js(&tab, "window.innerWidth"), 390);
        assert_eq!(
            js(
                &tab,
                "document.documentElement.scrollWidth <= window.innerWidth"
            ),
            Value::Bool(true),
            "the page is wider than a phone"
        );
        screenshot(&tab, "page-390.png");
    });

    // The server goes away: the page says its data is stale.
    serve.crash();
    tokio::task::block_in_place(|| {
        let (_browser, tab) = &wide;
        assert_eq!(
            js(tab, "document.getElementById('stale').hidden"),
            Value::Bool(true)
        );
        until(
            tab,
            "the stale banner",
            "!document.getElementById('stale').hidden && \
             document.getElementById('stale').textContent.startsWith('Not heard from geoplan')",
            Duration::from_secs(10),
        );
    });
}
