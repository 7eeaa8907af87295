//! `geoplan drill CONFIG REGION`: a practice failover through a running control plane.
//! Drain the region (with the guard), see traffic leave it (the switch confirmed, and
//! the DNS answer where `serve` can observe it), hold it out while an outcome probe
//! checks the rest of the service, restore it through the failback gate, and report
//! each step against its objective.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::control::{api_error, client, unreachable};
use super::exit::Exit;
use crate::config::{Config, DrillSettings};

/// How often the drill asks the control plane while it waits for something.
const POLL: Duration = Duration::from_millis(250);
/// How long the drill waits for `serve`'s DNS watch to end after the switch was
/// confirmed: its 60 s watch, and a margin for a loaded host.
const DNS_WAIT: Duration = Duration::from_secs(75);

/// What the drill measured, step by step (`--json` prints it).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub deployment: String,
    pub region: String,
    /// From the drain request to its answer (the switch confirmed).
    pub drained_seconds: Option<f64>,
    /// From the drain request to the DNS answer without the region, where observable.
    pub dns_seconds: Option<f64>,
    /// `left`, `stayed` or `unobservable`.
    pub dns: Option<String>,
    /// The objective: `[drill] rto`, and what was measured against it.
    pub rto_seconds: Option<f64>,
    pub rto_measured_seconds: Option<f64>,
    pub held_seconds: Option<f64>,
    /// Outcome probes made while the region was out, and the first failure.
    pub outcome_probes: u32,
    pub outcome_failure: Option<String>,
    /// How long the restore waited for the failback gate, and its last reason.
    pub gate_seconds: Option<f64>,
    pub gate_reason: Option<String>,
    /// From the restore that went through to its answer.
    pub restored_seconds: Option<f64>,
    pub aborted: Option<String>,
    /// An aborted drill put the region back (past the gate).
    pub restored_after_abort: bool,
    /// Objectives missed and steps not done within their budget.
    pub missed: Vec<String>,
}

pub struct Drill<'a> {
    pub config: &'a Config,
    pub region: &'a str,
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub hold: Option<Duration>,
    pub json: bool,
}

impl Drill<'_> {
    pub async fn run(&self) -> Exit {
        let settings = DrillSettings {
            hold: self.hold.unwrap_or(self.config.drill.hold),
            ..self.config.drill.clone()
        };
        let mut report = Report {
            deployment: self.config.name.clone(),
            region: self.region.to_owned(),
            rto_seconds: settings.rto.map(|d| d.as_secs_f64()),
            ..Report::default()
        };
        let exit = self.steps(&settings, &mut report).await;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        } else {
            print!("{}", render(&report));
        }
        match exit {
            Exit::Ok if report.aborted.is_some() || !report.missed.is_empty() => {
                Exit::ObjectiveMissed
            }
            other => other,
        }
    }

    async fn steps(&self, settings: &DrillSettings, report: &mut Report) -> Exit {
        // 1. The region must be in service, and this control plane must run this
        //    deployment.
        let status = match self.get("/v1/status").await {
            Ok(s) => s,
            Err(exit) => return exit,
        };
        if status["deployment"] != self.config.name.as_str() {
            eprintln!(
                "error: the control plane at {} runs {}, not {}",
                self.url, status["deployment"], self.config.name
            );
            return Exit::Refused;
        }
        let Some(region) = status["regions"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["name"] == self.region))
        else {
            eprintln!("error: {} has no region {}", self.config.name, self.region);
            return Exit::Refused;
        };
        if region["switch"]["in_service"] != true {
            eprintln!(
                "error: {} is not in service: nothing to drill (restore it first)",
                self.region
            );
            return Exit::Refused;
        }

        // 2. Drain, through the guard. From here on Ctrl-C aborts and restores.
        let interrupted = interrupted();
        let started = Instant::now();
        let reason = format!("drill (geoplan drill, hold {})", secs(settings.hold));
        let since = match self
            .post_raw("drain", serde_json::json!({ "reason": reason }))
            .await
        {
            Ok((code, body)) if code.is_success() => body["switch"]["since"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            // Refused (the guard, the token, no actor): nothing changed.
            Ok((code, body)) if code.is_client_error() || code.as_u16() == 503 => {
                return api_error(code, &body.to_string());
            }
            // Not confirmed (502): it may still land, so put the region back.
            Ok((code, body)) => {
                let exit = api_error(code, &body.to_string());
                return self
                    .abort(report, "the drain was not confirmed", exit)
                    .await;
            }
            Err(exit) => return self.abort(report, "the drain got no answer", exit).await,
        };
        report.drained_seconds = Some(started.elapsed().as_secs_f64());
        let mut probe = Outcome::new(settings.outcome_url.as_deref());

        // 3. Traffic leaves: serve watches the DNS answer after this take-out (a
        //    recovery confirmed at or after the drain's own `since`, not an older one).
        let confirmed = Instant::now();
        loop {
            if let Some(why) = probe.check(report, &interrupted).await {
                return self.abort(report, &why, Exit::ObjectiveMissed).await;
            }
            let r = match self.get(&format!("/v1/regions/{}", self.region)).await {
                Ok(r) => r,
                Err(exit) => {
                    return self
                        .abort(report, "the control plane stopped answering", exit)
                        .await;
                }
            };
            let rec = &r["recovery"];
            let this =
                rec["kind"] == "drain" && rec["at"].as_str().is_some_and(|at| at >= since.as_str());
            let watch = rec["dns"].as_str().filter(|_| this);
            match watch {
                Some("watching") | None if confirmed.elapsed() < DNS_WAIT => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Some(outcome) => {
                    report.dns = Some(outcome.to_owned());
                    if outcome == "left" {
                        // serve's figure runs from the request as it received it.
                        report.dns_seconds = rec["dns_seconds"].as_f64();
                    }
                }
                None => report.dns = Some("unobservable".into()),
            }
            break;
        }
        if report.dns.as_deref() == Some("stayed") {
            report
                .missed
                .push(format!("{} stayed in the DNS answer", self.region));
        }
        report.rto_measured_seconds = report.dns_seconds.or(report.drained_seconds);
        if let (Some(rto), Some(took)) = (settings.rto, report.rto_measured_seconds)
            && took > rto.as_secs_f64()
        {
            report
                .missed
                .push(format!("rto {}: traffic left after {took:.2} s", secs(rto)));
        }

        // 4. Hold, the outcome probe watching the rest of the service (at least once).
        let held = Instant::now();
        loop {
            if let Some(why) = probe.check(report, &interrupted).await {
                report.held_seconds = Some(held.elapsed().as_secs_f64());
                return self.abort(report, &why, Exit::ObjectiveMissed).await;
            }
            let left = settings.hold.saturating_sub(held.elapsed());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(POLL)).await;
        }
        report.held_seconds = Some(held.elapsed().as_secs_f64());

        // 5. Restore through the failback gate, waiting while it holds.
        self.restore(settings, report, &mut probe, &interrupted)
            .await
    }

    /// Restores through the gate, retrying while it holds (and while the control plane
    /// is busy: a change in flight, no actor for a moment, an unconfirmed flip), within
    /// `failback_within`; the outcome probe goes on meanwhile.
    async fn restore(
        &self,
        settings: &DrillSettings,
        report: &mut Report,
        probe: &mut Outcome<'_>,
        interrupted: &Interrupted,
    ) -> Exit {
        let asked = Instant::now();
        let mut held_since: Option<Instant> = None;
        loop {
            if let Some(why) = probe.check(report, interrupted).await {
                return self.abort(report, &why, Exit::ObjectiveMissed).await;
            }
            let tried = Instant::now();
            match self.post_raw("restore", Value::Null).await {
                Ok((code, _)) if code.is_success() => {
                    report.restored_seconds = Some(tried.elapsed().as_secs_f64());
                    // From the first refusal to the attempt that went through.
                    report.gate_seconds = held_since.map(|h| tried.duration_since(h).as_secs_f64());
                    return Exit::Ok;
                }
                Ok((code, body)) if retry(code, &body) => {
                    let message = body["error"]["message"].as_str().unwrap_or_default();
                    if message.starts_with("the failback gate holds") {
                        held_since.get_or_insert(tried);
                        report.gate_reason = Some(message.to_owned());
                    }
                    if asked.elapsed() >= settings.failback_within {
                        report.gate_seconds = held_since.map(|h| h.elapsed().as_secs_f64());
                        report.missed.push(format!(
                            "{} was not restored within failback_within {} ({message}); it is still out",
                            self.region,
                            secs(settings.failback_within)
                        ));
                        return Exit::ObjectiveMissed;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok((code, body)) => {
                    eprintln!("error: {} is still out of service", self.region);
                    return api_error(code, &body.to_string());
                }
                Err(exit) => {
                    eprintln!("error: {} is still out of service", self.region);
                    return exit;
                }
            }
        }
    }

    /// Ends the drill early: restore now, past the gate (the rest of the service is
    /// failing, the drill was interrupted, or it cannot go on), with the reason
    /// recorded. Exits `exit` once restored, else says the region is still out.
    async fn abort(&self, report: &mut Report, why: &str, exit: Exit) -> Exit {
        report.aborted = Some(why.to_owned());
        let exit = if why == "interrupted" {
            Exit::Interrupted
        } else {
            exit
        };
        let body = serde_json::json!({ "force": true, "reason": format!("drill aborted: {why}") });
        // A few tries: the control plane may be busy with the drain a moment ago.
        for _ in 0..10 {
            match self.post_raw("restore", body.clone()).await {
                Ok((code, _)) if code.is_success() => {
                    report.restored_after_abort = true;
                    return match exit {
                        Exit::Ok => Exit::ObjectiveMissed,
                        other => other,
                    };
                }
                Ok((code, body)) if retry(code, &body) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok((code, body)) => {
                    eprintln!(
                        "error: the aborted drill could not restore {}; restore it by hand",
                        self.region
                    );
                    return api_error(code, &body.to_string());
                }
                Err(e) => {
                    eprintln!(
                        "error: the aborted drill could not restore {}; restore it by hand",
                        self.region
                    );
                    return e;
                }
            }
        }
        eprintln!(
            "error: the aborted drill could not restore {}; restore it by hand",
            self.region
        );
        Exit::Failure
    }

    async fn get(&self, path: &str) -> Result<Value, Exit> {
        let resp = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|e| unreachable(self.url, &e))?;
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !code.is_success() {
            return Err(api_error(code, &text));
        }
        serde_json::from_str(&text).map_err(|e| {
            eprintln!("error: the control plane at {} answered {path} with something that is not JSON: {e}", self.url);
            Exit::Failure
        })
    }

    async fn post_raw(
        &self,
        action: &str,
        body: Value,
    ) -> Result<(reqwest::StatusCode, Value), Exit> {
        let mut req = client()
            .post(format!("{}/v1/regions/{}/{action}", self.url, self.region))
            .json(&body);
        if let Some(t) = self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| unreachable(self.url, &e))?;
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Ok((
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

/// Whether a restore's answer is worth another try: the gate holds, a change is in
/// flight or being read, no instance holds the lease for a moment, or the flip was
/// not confirmed.
fn retry(code: reqwest::StatusCode, body: &Value) -> bool {
    let refused = code == reqwest::StatusCode::CONFLICT
        && body["error"]["message"].as_str().is_some_and(|m| {
            m.starts_with("the failback gate holds")
                || m.contains("already in flight")
                || m.contains("is being read again")
        });
    refused || code.as_u16() == 503 || code.as_u16() == 502
}

/// Set by Ctrl-C or SIGTERM: the drill aborts and restores the region.
type Interrupted = std::sync::Arc<std::sync::atomic::AtomicBool>;

fn interrupted() -> Interrupted {
    let flag = Interrupted::default();
    let set = flag.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        set.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    flag
}

/// The outcome probe: the rest of the service must answer 2xx (within 2 s), checked
/// once a second while the region is out.
struct Outcome<'a> {
    url: Option<&'a str>,
    last: Option<Instant>,
}

impl<'a> Outcome<'a> {
    fn new(url: Option<&'a str>) -> Outcome<'a> {
        Outcome { url, last: None }
    }

    /// Why the drill must stop now, if it must: interrupted, or the probe failed.
    async fn check(&mut self, report: &mut Report, interrupted: &Interrupted) -> Option<String> {
        if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            return Some("interrupted".into());
        }
        let url = self.url?;
        if self
            .last
            .is_some_and(|l| l.elapsed() < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(Instant::now());
        report.outcome_probes += 1;
        let answer = client()
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let failed = match answer {
            Ok(r) if r.status().is_success() => return None,
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => e.to_string(),
        };
        let why = format!("outcome probe of {url} failed: {failed}");
        report.outcome_failure = Some(why.clone());
        Some(why)
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The report as text.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = format!("drill of {} ({})\n", r.region, r.deployment);
    let line = |out: &mut String, step: &str, what: String| {
        let _ = writeln!(out, "  {step:<15} {what}");
    };
    if let Some(d) = r.drained_seconds {
        line(
            &mut out,
            "drained",
            format!("switch confirmed {d:.2} s after the request"),
        );
    }
    match (r.dns.as_deref(), r.dns_seconds) {
        (Some("left"), Some(d)) => line(
            &mut out,
            "traffic left",
            format!(
                "the DNS answer no longer held {} {d:.2} s after the request",
                r.region
            ),
        ),
        (Some("stayed"), _) => line(
            &mut out,
            "traffic left",
            "NO: still in the DNS answer".into(),
        ),
        (Some(_), _) => line(
            &mut out,
            "traffic left",
            "the DNS answer is not observable from the control plane; the switch is the measure"
                .into(),
        ),
        _ => {}
    }
    if let Some(h) = r.held_seconds {
        let probes = match (&r.outcome_failure, r.outcome_probes) {
            (Some(f), _) => format!(", {f}"),
            (None, 0) => String::new(),
            (None, n) => format!(", outcome probe healthy {n}/{n}"),
        };
        line(&mut out, "held out", format!("{h:.1} s{probes}"));
    }
    if let Some(g) = r.gate_seconds {
        line(
            &mut out,
            "failback gate",
            format!(
                "held the restore {g:.1} s{}",
                r.gate_reason
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
        );
    }
    if let Some(d) = r.restored_seconds {
        line(
            &mut out,
            "restored",
            format!("switch confirmed {d:.2} s after the request"),
        );
    }
    if let Some(why) = &r.aborted {
        line(
            &mut out,
            "ABORTED",
            format!("{why}; restored past the gate"),
        );
    }
    match (r.rto_seconds, r.rto_measured_seconds) {
        (Some(rto), Some(m)) => line(
            &mut out,
            "objective",
            format!(
                "rto {rto} s: {} ({m:.2} s)",
                if m <= rto { "met" } else { "MISSED" }
            ),
        ),
        (None, Some(m)) => line(
            &mut out,
            "objective",
            format!("none set ([drill] rto); traffic left after {m:.2} s"),
        ),
        _ => {}
    }
    for m in &r.missed {
        line(&mut out, "missed", m.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_step_by_step() {
        let r = Report {
            deployment: "shop".into(),
            region: "eu-west-1".into(),
            drained_seconds: Some(0.42),
            dns_seconds: Some(1.05),
            dns: Some("left".into()),
            rto_seconds: Some(30.0),
            rto_measured_seconds: Some(1.05),
            held_seconds: Some(60.0),
            outcome_probes: 60,
            gate_seconds: Some(12.3),
            gate_reason: Some("the failback gate holds eu-west-1: replication of shop-carts into eu-west-1 lagged 7.5 s within the last 120 s (limit 5 s); restore with --force and a reason to override it".into()),
            restored_seconds: Some(0.38),
            ..Report::default()
        };
        assert_eq!(
            render(&r),
            "drill of eu-west-1 (shop)\n\
             \x20 drained         switch confirmed 0.42 s after the request\n\
             \x20 traffic left    the DNS answer no longer held eu-west-1 1.05 s after the request\n\
             \x20 held out        60.0 s, outcome probe healthy 60/60\n\
             \x20 failback gate   held the restore 12.3 s (the failback gate holds eu-west-1: replication of shop-carts into eu-west-1 lagged 7.5 s within the last 120 s (limit 5 s); restore with --force and a reason to override it)\n\
             \x20 restored        switch confirmed 0.38 s after the request\n\
             \x20 objective       rto 30 s: met (1.05 s)\n"
        );
        let missed = Report {
            rto_measured_seconds: Some(31.0),
            dns: Some("unobservable".into()),
            dns_seconds: None,
            missed: vec!["rto 30s: traffic left after 31.00 s".into()],
            ..r
        };
        let text = render(&missed);
        assert!(
            text.contains("the DNS answer is not observable from the control plane"),
            "{text}"
        );
        assert!(text.contains("rto 30 s: MISSED (31.00 s)"), "{text}");
        assert!(
            text.ends_with("  missed          rto 30s: traffic left after 31.00 s\n"),
            "{text}"
        );
    }
}
