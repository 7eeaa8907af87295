//! `geoplan drill` end to end: the real binary drives a real `geoplan serve` on moto,
//! whose data plane answers DNS (`TestDNSAnswer`), so the report's figures are
//! measurements: the switch confirmed, the DNS answer without the region, the hold,
//! the restore.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dataplane::{dataplane, geoplan_zone_at};
use crate::serve::{Serve, TOKEN};
use crate::support::*;

const EU: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// `serve::config` with eu-west-1's endpoint on 127.0.0.2 (so that a DNS answer tells
/// the regions apart), and `drill` appended.
fn config(us: u16, eu: u16, drill: &str) -> String {
    let text = crate::serve::config(us, eu);
    let at = text.rfind("endpoint = \"127.0.0.1\"").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen("127.0.0.1", "127.0.0.2", 1);
    format!("{head}{tail}\n[drill]\n{drill}")
}

struct Setup {
    /// Kept alive for the test (moto stops when dropped).
    _emu: Emulator,
    _us: FakeRegion,
    _eu: FakeRegion,
    wd: Workdir,
    serve: Serve,
}

/// moto with its data plane, the zone with a latency record per region (values: the
/// endpoints), `serve` running, and its first DNS answer holding eu-west-1 (the
/// emulator answers a query with no client subnet with the first region by name).
async fn setup() -> Setup {
    let emu = Emulator::moto();
    dataplane(&emu, "interval=1").await;
    let us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_at(EU).await;
    let r53 = emu.route53().await;
    geoplan_zone_at(
        &r53,
        "drill",
        ("127.0.0.1", us.port, "127.0.0.1"),
        ("127.0.0.2", eu.port, "127.0.0.2"),
    )
    .await;
    let wd = Workdir::with_text("regions.toml", &config(us.port, eu.port, ""));
    let serve = Serve::start(wd.path(), &emu).await;
    // serve::config's resync_interval (2 s) ten times: DNS is asked each resync.
    let deadline = Instant::now() + Duration::from_secs(2) * 10;
    loop {
        let st = serve.get("/v1/status").await;
        if st["routing"][0]["dns"]["regions"] == serde_json::json!(["eu-west-1"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve never saw DNS answer eu-west-1: {st:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Setup {
        _emu: emu,
        _us: us,
        _eu: eu,
        wd,
        serve,
    }
}

impl Setup {
    fn drill(&self, file: &str, drill: &str) -> std::process::Command {
        std::fs::write(
            self.wd.path().join(file),
            config(self._us.port, self._eu.port, drill),
        )
        .unwrap();
        let mut cmd = geoplan_command(
            self.wd.path(),
            &[
                "drill",
                file,
                "eu-west-1",
                "--json",
                "--url",
                &self.serve.url,
            ],
            None,
        );
        cmd.env("GEOPLAN_API_TOKEN", TOKEN);
        cmd
    }
}

fn report(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

/// A drill drains eu-west-1, sees the DNS answer leave it, holds it out, restores it,
/// and reports each figure, meeting its objective.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_drains_sees_dns_leave_holds_and_restores() {
    let s = setup().await;
    let started = Instant::now();
    let out = s
        .drill("drill.toml", "rto = \"30s\"\nhold = \"1s\"\n")
        .output()
        .unwrap();
    let took = started.elapsed();
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{r:#}\n{}", stderr(&out));
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("no {k}: {r:#}"));
    assert_eq!(r["dns"], "left", "{r:#}");
    assert!(
        f("drained_seconds") > 0.0 && f("dns_seconds") > 0.0,
        "{r:#}"
    );
    assert!(f("dns_seconds") < 30.0, "{r:#}");
    assert_eq!(r["rto_measured_seconds"], r["dns_seconds"]);
    assert!(f("held_seconds") >= 1.0, "{r:#}");
    assert!(f("restored_seconds") > 0.0, "{r:#}");
    assert!(
        f("drained_seconds") + f("held_seconds") < took.as_secs_f64(),
        "the figures are parts of the drill's own time: {r:#} in {took:?}"
    );
    assert_eq!(r["missed"], serde_json::json!([]));
    assert!(r["aborted"].is_null());
    // serve recorded it all: the drain with the drill's reason, DNS, the restore.
    let st = s.serve.get("/v1/regions/eu-west-1").await;
    assert_eq!(st["switch"]["in_service"], true, "{st:#}");
    let events = s.serve.get("/v1/events?limit=1000").await;
    let events = events["events"].as_array().unwrap();
    let said = |kind: &str, start: &str| {
        events
            .iter()
            .any(|e| e["kind"] == kind && e["message"].as_str().unwrap().starts_with(start))
    };
    assert!(
        said("drain", "eu-west-1 drained: drill (geoplan drill, hold 1s)"),
        "{events:#?}"
    );
    assert!(said("dns", "eu-west-1 left the DNS answer "), "{events:#?}");
    assert!(
        said("restore", "eu-west-1 restored to service"),
        "{events:#?}"
    );
}

/// A missed objective exits 8 naming it; an outcome probe that fails mid-drill aborts
/// it and restores the region at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_missed_objective_or_a_failing_outcome_probe_exits_8() {
    let s = setup().await;
    let out = s
        .drill("tight.toml", "rto = \"1ms\"\nhold = \"0s\"\n")
        .output()
        .unwrap();
    let r = report(&out);
    assert_eq!(out.status.code(), Some(8), "{r:#}\n{}", stderr(&out));
    assert!(
        r["missed"][0]
            .as_str()
            .unwrap()
            .starts_with("rto 1ms: traffic left after "),
        "{r:#}"
    );
    assert_eq!(
        s.serve.get("/v1/regions/eu-west-1").await["switch"]["in_service"],
        true,
        "restored all the same"
    );

    let mut service = FakeRegion::start_new().await;
    let drill = format!(
        "hold = \"60s\"\noutcome_url = \"http://127.0.0.1:{}/health\"\n",
        service.port
    );
    let child = s
        .drill("probed.toml", &drill)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once eu-west-1 is out, the rest of the service fails.
    // The drill's drain: a flip, within its timeout (thrice, for a loaded host).
    let deadline = Instant::now() + geoplan::control::core::FLIP_TIMEOUT * 3;
    while s.serve.get("/v1/regions/eu-west-1").await["switch"]["in_service"] != false {
        assert!(
            Instant::now() < deadline,
            "the drill never drained eu-west-1"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.stop().await;
    let out = child.wait_with_output().unwrap();
    let r = report(&out);
    assert_eq!(out.status.code(), Some(8), "{r:#}\n{}", stderr(&out));
    let aborted = r["aborted"]
        .as_str()
        .unwrap_or_else(|| panic!("not aborted: {r:#}"));
    assert!(
        aborted.starts_with("outcome probe of http://127.0.0.1:"),
        "{r:#}"
    );
    assert!(
        r["held_seconds"].as_f64().is_none_or(|h| h < 60.0),
        "aborted before the hold ended: {r:#}"
    );
    assert_eq!(r["restored_after_abort"], true, "{r:#}");
    assert_eq!(
        s.serve.get("/v1/regions/eu-west-1").await["switch"]["in_service"],
        true,
        "the aborted drill restored eu-west-1"
    );
}
