//! The control-plane commands: `serve` (run it), and `status`, `drain`, `restore`
//! against a running one (or `status CONFIG`, read from AWS directly).

use serde_json::Value;

use super::ServeArgs;
use super::exit::{Exit, print_chain};
use super::{endpoint, load_config};
use crate::control::status::StatusDoc;

pub(super) async fn serve(args: ServeArgs) -> Exit {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEOPLAN_LOG")
        .unwrap_or_else(|_| "geoplan=info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(|| crate::telemetry::LogSink)
        .log_internal_errors(false)
        .try_init();
    let loaded = match load_config(&args.config) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let config = loaded.config;
    let endpoint_url = endpoint(args.endpoint_url, &config);
    let token = match secret(
        "GEOPLAN_API_TOKEN",
        "monitor.token_file",
        config.monitor.token_file.as_deref(),
    ) {
        Ok(t) => t.map(crate::api::Token::new),
        Err(exit) => return exit,
    };
    let webhook_secret = match secret(
        "GEOPLAN_WEBHOOK_SECRET",
        "cost.webhook_secret_file",
        config
            .cost
            .as_ref()
            .and_then(|c| c.webhook_secret_file.as_deref()),
    ) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    if let Ok(regions) = std::env::var(crate::control::probe::FAULT_DROP_PROBES) {
        tracing::warn!(regions = %regions, "drill: this instance's probes of these regions are dropped");
    }
    if token.is_none() {
        tracing::warn!(
            "no API token configured: drain and restore are refused (set GEOPLAN_API_TOKEN or monitor.token_file)"
        );
    }
    let addr = args.listen.unwrap_or(config.monitor.listen);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Exit::Failure;
        }
    };
    let instance = args.instance.clone().unwrap_or_else(hostname);
    let options = crate::serve::ServeOptions {
        instance,
        endpoint_url,
        token,
        webhook_backoff: crate::cost::monitor::default_backoff(),
        webhook_secret,
    };
    match crate::serve::run(config, listener, options, shutdown_signal()).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            print_chain(&e);
            Exit::Failure
        }
    }
}

/// Completes on ctrl-c or SIGTERM.
/// A secret from its environment variable, else from its configured file (`None` when
/// neither is set, or what is there is blank).
fn secret(
    env: &str,
    field: &str,
    file: Option<&std::path::Path>,
) -> Result<Option<crate::config::secret::Secret>, Exit> {
    if let Ok(v) = std::env::var(env) {
        return Ok(crate::config::secret::Secret::new(v));
    }
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(crate::config::secret::Secret::new)
            .map_err(|e| {
                eprintln!("error: cannot read {field} {}: {e}", path.display());
                Exit::Failure
            }),
        None => Ok(None),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("a TLS backend is compiled in")
}

pub(super) fn unreachable(url: &str, e: &reqwest::Error) -> Exit {
    eprintln!(
        "error: cannot reach the control plane at {url}: {e}\n  help: start it with `geoplan serve regions.toml`, or pass --url / GEOPLAN_URL"
    );
    Exit::Failure
}

/// Prints an API error body (`{"error": {"code", "message"}}`) and maps it to an exit code.
pub(super) fn api_error(status: reqwest::StatusCode, body: &str) -> Exit {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let code = v["error"]["code"].as_str().unwrap_or("error");
    let message = v["error"]["message"].as_str().unwrap_or(body);
    eprintln!("error: {message} ({code}, HTTP {})", status.as_u16());
    if status.is_client_error() {
        Exit::Refused
    } else {
        Exit::Failure
    }
}

pub async fn status(url: &str, json: bool) -> Exit {
    let resp = match client().get(format!("{url}/v1/status")).send().await {
        Ok(r) => r,
        Err(e) => return unreachable(url, &e),
    };
    let code = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !code.is_success() {
        return api_error(code, &body);
    }
    if json {
        println!("{body}");
        return Exit::Ok;
    }
    let Ok(doc) = serde_json::from_str::<StatusDoc>(&body) else {
        eprintln!("error: the control plane at {url} sent a status this geoplan cannot read");
        return Exit::Failure;
    };
    // The page's other essentials: the latest flips with their durations, and cost.
    // Both are best effort: the status above is what the command promises.
    let events = match client()
        .get(format!("{url}/v1/events?tail=true&limit=200"))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        _ => None,
    };
    let cost = match client().get(format!("{url}/v1/cost")).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        _ => None,
    };
    let style = Style::for_stdout();
    print!("{}", render_status(&doc, style));
    let events = events
        .as_ref()
        .and_then(|e| e["events"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    print!("{}", render_recent(events, cost.as_ref(), style));
    Exit::Ok
}

/// The last flips (newest first, with how long each took from the first evidence to
/// Route 53's confirmation) and the month's cross-region spend against the budget.
pub fn render_recent(events: &[Value], cost: Option<&Value>, style: Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let flips: Vec<&Value> = events
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e["kind"].as_str(),
                Some("failover" | "failback" | "drain" | "restore")
            )
        })
        .take(5)
        .collect();
    if !flips.is_empty() {
        let _ = writeln!(out, "\nRECENT FLIPS");
        for e in flips {
            let kind = e["kind"].as_str().unwrap_or_default();
            let took = e["took_ms"]
                .as_f64()
                .map(|ms| format!("{:.2} s", ms / 1e3))
                .unwrap_or_else(|| "-".into());
            let painted = style.paint(
                format!("{kind:<9}"),
                if matches!(kind, "failover" | "drain") {
                    RED
                } else {
                    GREEN
                },
            );
            let _ = writeln!(
                out,
                "  {} {painted} {:<16} took {took}",
                e["at"].as_str().unwrap_or("?"),
                e["region"].as_str().unwrap_or("-"),
            );
        }
    }
    if let Some(c) = cost {
        let month = format!(
            "{}-{:02}",
            c["month"]["year"].as_i64().unwrap_or(0),
            c["month"]["month"].as_i64().unwrap_or(0)
        );
        let transfer = c["matrix"]["transfer_usd"].as_f64().unwrap_or(0.0);
        let replication = c["matrix"]["replication_usd"].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "\nCOST {month}: transfer ${transfer:.2}, replication ${replication:.2} (scope: {})",
            c["scope"].as_str().unwrap_or("?")
        );
        if let Some(note) = c["scope_note"].as_str() {
            let _ = writeln!(out, "  note: {note}");
        }
        if let Some(b) = c.get("budget").filter(|b| !b.is_null()) {
            let fraction = b["fraction"].as_f64().unwrap_or(0.0);
            let text = format!(
                "  budget ${:.2}: spent ${:.2} ({:.0}%), forecast ${:.2} ({:.0}%)",
                b["budget_usd"].as_f64().unwrap_or(0.0),
                b["spend_usd"].as_f64().unwrap_or(0.0),
                fraction * 100.0,
                b["forecast_usd"].as_f64().unwrap_or(0.0),
                b["forecast_fraction"].as_f64().unwrap_or(0.0) * 100.0,
            );
            let colour = if fraction >= 1.0 {
                RED
            } else if b["crossed"].as_array().is_some_and(|c| !c.is_empty()) {
                YELLOW
            } else {
                GREEN
            };
            let _ = writeln!(out, "{}", style.paint(text, colour));
        }
        let mut pairs: Vec<&Value> = c["matrix"]["pairs"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        pairs.sort_by(|a, b| {
            b["usd"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&a["usd"].as_f64().unwrap_or(0.0))
        });
        for p in pairs.iter().take(3) {
            let _ = writeln!(
                out,
                "  {} → {}: {:.1} GB, ${:.2}",
                p["from"].as_str().unwrap_or("?"),
                p["to"].as_str().unwrap_or("?"),
                p["gb"].as_f64().unwrap_or(0.0),
                p["usd"].as_f64().unwrap_or(0.0)
            );
        }
    }
    out
}

/// Status read from AWS directly: every switch and Route 53's endpoint statuses, with
/// the causes the local store remembers. No probe data: only a control plane probes.
/// Where `status CONFIG` finds why a switch is as Route 53 shows it.
enum Causes {
    /// The control tables' switch records (`[control]`).
    Tables(std::collections::BTreeMap<String, crate::control::core::SwitchRecord>),
    /// The local store of a single instance.
    Store(Box<crate::store::Store>),
    Nowhere,
}

impl Causes {
    /// The switch as Route 53 has it (`inverted`, at `version`), with its cause when one
    /// is recorded; never a cause made up.
    fn switch(
        &self,
        region: &str,
        inverted: bool,
        version: i64,
    ) -> Result<crate::control::failover::Switch, crate::store::StoreError> {
        use crate::control::failover::Switch;
        use crate::control::store::SwitchStore;
        let unrecorded = |why: &str| Switch {
            in_service: false,
            cause: None,
            reason: Some(why.into()),
            since: None,
        };
        Ok(match self {
            Causes::Tables(records) => match records.get(region) {
                Some(rec) if rec.switch.in_service != inverted => rec.switch.clone(),
                _ if inverted => unrecorded("cause not recorded in the control tables"),
                _ => Switch::in_service(),
            },
            // The same reconciliation `serve` makes at start-up: Route 53 says in or
            // out, the store says why (and whether an unconfirmed flip was its own).
            Causes::Store(store) => {
                let stored = store.load_switch(region)?;
                let intent = store.load_intent(region)?;
                let found = crate::control::core::reconcile(
                    region,
                    inverted,
                    version,
                    stored.as_ref(),
                    intent.as_ref(),
                    std::time::SystemTime::now(),
                );
                // A recorded intent that landed is a cause on record; a switch found
                // changed with no record is shown as such (serve would then record
                // its conclusion; status records nothing).
                let from_intent = intent.is_some_and(|i| i.switch == found.switch);
                match (found.note.is_some() && !from_intent, inverted) {
                    (true, true) => unrecorded("cause not recorded in the local store"),
                    (true, false) => Switch::in_service(),
                    (false, _) => found.switch,
                }
            }
            Causes::Nowhere if inverted => unrecorded("cause unknown (no local store)"),
            Causes::Nowhere => Switch::in_service(),
        })
    }
}

pub async fn status_direct(
    config: &crate::config::Config,
    endpoint_url: Option<&str>,
    json: bool,
) -> Exit {
    use crate::control::status::{RegionDoc, SwitchDoc};
    let r53 = crate::aws::route53(endpoint_url).await;
    let checks = match crate::control::switches::discover(&r53, &config.name).await {
        Ok(c) => c,
        Err(e) => {
            print_chain(&e);
            return Exit::Failure;
        }
    };
    // Where the causes are: with `[control]`, in the control tables' switch records
    // (each instance's own store is its own); otherwise in the local store, opened
    // read-only (status changes nothing).
    let causes = match &config.control {
        Some(control) => {
            let tables = crate::control::coordinator::Tables::connect(
                &config.name,
                &control.regions,
                endpoint_url,
                None,
            )
            .await;
            let (records, majority) = tables.load_records(std::time::Duration::from_secs(5)).await;
            if !majority {
                eprintln!(
                    "warning: fewer than a majority of the control tables answered; the causes shown may be older than the latest"
                );
            }
            Causes::Tables(records)
        }
        None => {
            let dir = crate::store::dir_of(&config.monitor.state_dir, &config.name);
            match crate::store::Store::exists(&dir) {
                false => Causes::Nowhere,
                true => match crate::store::Store::open_read_only(&dir, &config.name) {
                    Ok(s) => Causes::Store(Box::new(s)),
                    Err(e) => {
                        print_chain(&e);
                        return Exit::Failure;
                    }
                },
            }
        }
    };
    let driver =
        match crate::control::driver::Driver::connect(config, &r53, &checks, endpoint_url, None)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                print_chain(&e);
                return Exit::Failure;
            }
        };
    let mut regions = Vec::new();
    for r in &config.regions {
        let Some(ids) = checks.get(&r.name) else {
            eprintln!(
                "error: region {} has no geoplan health checks in Route 53; run `geoplan apply`",
                r.name
            );
            return Exit::Failure;
        };
        let read = async {
            let (inverted, version) = driver.read(&r53, None, &ids.switch).await?;
            let healthy = crate::control::switches::route53_status(&r53, &ids.endpoint).await?;
            Ok::<_, crate::control::switches::SwitchError>((inverted, version, healthy))
        };
        let (inverted, version, route53_healthy) = match read.await {
            Ok(v) => v,
            Err(e) => {
                print_chain(&e);
                return Exit::Failure;
            }
        };
        let switch = match causes.switch(&r.name, inverted, version) {
            Ok(s) => s,
            Err(e) => {
                print_chain(&e);
                return Exit::Failure;
            }
        };
        regions.push(RegionDoc {
            name: r.name.clone(),
            verdict: "-".into(),
            verdict_since: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_probe: None,
            route53_healthy,
            switch: SwitchDoc::from(&switch),
            health_checks: ids.clone(),
            decided: None,
            vantages: Vec::new(),
            failback: None,
            recovery: None,
            location: crate::control::status::LocationDoc::of(&r.name),
        });
    }
    let module = crate::deploy::model::build(config, "regions.toml", None);
    let mut routing = crate::control::status::routing_of(&module.records, &regions);
    // What DNS answers, beside it (a failed ask leaves the line without it).
    let mut answers = std::collections::BTreeMap::new();
    if let Ok(zone) = crate::control::dns::zone_id(&r53, config).await {
        for (name, rtype) in crate::control::dns::names(&module.records) {
            match crate::control::dns::answer(&r53, &zone, &name, rtype).await {
                Ok(a) => {
                    answers.insert(name, a);
                }
                Err(e) => eprintln!("warning: {e}"),
            }
        }
    }
    crate::control::status::with_dns(&mut routing, &module.records, &answers);
    let doc = StatusDoc {
        deployment: config.name.clone(),
        pattern: config.pattern.as_str().into(),
        auto_failover: false,
        switch: config.monitor.switch.as_str().to_owned(),
        started_at: None,
        regions,
        routing,
        control: None,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serialisable")
        );
    } else {
        println!("(read from AWS directly; no control plane: no probe data)");
        print!("{}", render_status(&doc, Style::for_stdout()));
    }
    Exit::Ok
}

/// The human form of a status document.
/// How the status is drawn: plain text, or with colours on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Colour,
}

impl Style {
    /// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Style::Colour
        } else {
            Style::Plain
        }
    }

    /// `text` (already padded: escape codes take no columns) in an ANSI SGR colour.
    fn paint(self, text: String, sgr: &str) -> String {
        match self {
            Style::Plain => text,
            Style::Colour => format!("\x1b[{sgr}m{text}\x1b[0m"),
        }
    }
}

const RED: &str = "1;31";
const YELLOW: &str = "33";
const GREEN: &str = "32";

/// " (carts 1.2 s, 40 s old; orders no data)".
fn lag_list(tables: &[crate::control::status::LagDoc]) -> String {
    if tables.is_empty() {
        return String::new();
    }
    let each: Vec<String> = tables
        .iter()
        .map(|l| match (l.lag_seconds, l.age_seconds) {
            (Some(lag), Some(age)) => format!("{} {lag:.1} s, {age:.0} s old", l.table),
            (Some(lag), None) => format!("{} {lag:.1} s", l.table),
            _ => format!("{} no data", l.table),
        })
        .collect();
    format!(" ({})", each.join("; "))
}

pub fn render_status(doc: &StatusDoc, style: Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    // A status read from AWS directly has no control plane, so no failover mode.
    let mode = match (&doc.started_at, doc.auto_failover) {
        (None, _) => String::new(),
        (Some(_), true) => ", automatic failover on".into(),
        (Some(_), false) => ", automatic failover OFF".into(),
    };
    let via = match doc.switch.as_str() {
        "arc" => ", switches: ARC routing controls",
        "both" => ", switches: Route 53 and ARC",
        _ => "",
    };
    let _ = writeln!(out, "{} ({}){mode}{via}", doc.deployment, doc.pattern);
    if let Some(c) = &doc.control {
        let actor = match &c.actor {
            Some(a) => format!("{} (epoch {}, {})", a.instance, a.epoch, a.addr),
            None => "none (no instance holds the lease)".into(),
        };
        let _ = writeln!(
            out,
            "actor: {actor}; answered by {}; control tables {}/{} reachable",
            c.instance, c.tables_reachable, c.tables
        );
        for i in &c.instances {
            let _ = writeln!(
                out,
                "  instance {:<20} {:<8} last heartbeat {:.1} s ago",
                i.instance,
                if i.fresh { "live" } else { "SILENT" },
                i.silent_ms as f64 / 1e3
            );
        }
    }
    let _ = writeln!(
        out,
        "{:<16} {:<11} {:<10} {:<9} {:<14} LAST PROBE",
        "REGION", "VERDICT", "ROUTE 53", "SWITCH", "CAUSE"
    );
    for r in &doc.regions {
        let r53 = match r.route53_healthy {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "-",
        };
        let switch = if r.switch.in_service { "in" } else { "OUT" };
        let cause = r.switch.cause.as_deref().unwrap_or("-");
        let probe = match &r.last_probe {
            Some(p) if p.ok => format!("ok {:.0} ms", p.latency_ms),
            Some(p) => format!("failed: {}", p.error.as_deref().unwrap_or("?")),
            None => "none yet".into(),
        };
        let verdict = style.paint(
            format!("{:<11}", r.verdict),
            match r.verdict.as_str() {
                "down" => RED,
                "suspect" | "recovering" => YELLOW,
                _ => GREEN,
            },
        );
        let r53 = style.paint(
            format!("{r53:<10}"),
            match r53 {
                "unhealthy" => RED,
                "healthy" => GREEN,
                _ => "0",
            },
        );
        let switch = style.paint(
            format!("{switch:<9}"),
            if r.switch.in_service { GREEN } else { RED },
        );
        let _ = writeln!(
            out,
            "{:<16} {verdict} {r53} {switch} {:<14} {probe}",
            r.name, cause
        );
        if let Some(reason) = r.switch.reason.as_deref().filter(|_| !r.switch.in_service) {
            let _ = writeln!(out, "{:<16} └ {reason}", "");
        }
        if let Some(f) = &r.failback {
            let lags = lag_list(&f.tables);
            let line = match &f.message {
                Some(why) if !f.open => style.paint(format!("failback HELD: {why}"), YELLOW),
                _ => "failback gate open".to_owned(),
            };
            let _ = writeln!(out, "{:<16} └ {line}{lags}", "");
        }
        if let Some(rec) = &r.recovery {
            let mut figures = Vec::new();
            if let Some(t) = rec.recovery_time_seconds {
                figures.push(format!("recovery time {t:.2} s"));
            }
            if let Some(d) = rec.dns_seconds {
                figures.push(format!("DNS answer changed after {d:.2} s"));
            }
            if !rec.recovery_point.is_empty() {
                figures.push(format!("recovery point{}", lag_list(&rec.recovery_point)));
            }
            if let Some(o) = rec.out_for_seconds {
                figures.push(format!("out {o:.1} s"));
            }
            if let Some(h) = rec.held_for_seconds {
                figures.push(format!("held by the failback gate {h:.1} s"));
            }
            let _ = writeln!(
                out,
                "{:<16} └ last {} at {}: {}",
                "",
                rec.kind,
                rec.at.as_deref().unwrap_or("-"),
                figures.join(", ")
            );
        }
        if let Some(decided) = &r.decided {
            let others: Vec<String> = r
                .vantages
                .iter()
                .map(|v| format!("{} {}", v.instance, v.verdict))
                .collect();
            let _ = writeln!(
                out,
                "{:<16} └ quorum: {decided} (others: {})",
                "",
                if others.is_empty() {
                    "none live".into()
                } else {
                    others.join(", ")
                }
            );
        }
    }
    let _ = writeln!(out, "\nROUTING");
    for route in &doc.routing {
        let open = if route.fail_open {
            "  (fail-open: every candidate is unhealthy)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<44} {:<9} → {}{open}",
            route.name,
            route.policy,
            route.regions.join(", ")
        );
        if let Some(dns) = &route.dns {
            let answered = if dns.regions.is_empty() {
                dns.values.join(", ")
            } else {
                dns.regions.join(", ")
            };
            let differs = if dns.differs {
                style.paint("  ≠ DIFFERS from geoplan's view".into(), YELLOW)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:<44} {:<9} → {answered} ({}){differs}",
                "", "DNS says", dns.response_code
            );
        }
    }
    out
}

async fn mutate(url: &str, token: Option<&str>, path: &str, body: Value) -> Exit {
    let mut req = client().post(format!("{url}{path}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return unreachable(url, &e),
    };
    let code = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !code.is_success() {
        return api_error(code, &text);
    }
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    let s = &v["switch"];
    // The path, when it is not Route 53's (the default, said by nothing).
    let via = match v["path"].as_str() {
        Some("arc") => " (through ARC)",
        Some("both") => " (switch = both: Route 53 and ARC)",
        _ => "",
    };
    if s["in_service"].as_bool() == Some(true) {
        println!("in service{via}");
    } else {
        println!(
            "out of service ({}): {}{via}",
            s["cause"].as_str().unwrap_or("-"),
            s["reason"].as_str().unwrap_or("-")
        );
    }
    Exit::Ok
}

pub async fn drain(url: &str, token: Option<&str>, region: &str, reason: &str) -> Exit {
    mutate(
        url,
        token,
        &format!("/v1/regions/{region}/drain"),
        serde_json::json!({ "reason": reason }),
    )
    .await
}

/// `force`: the reason for overriding the failback gate.
pub async fn restore(url: &str, token: Option<&str>, region: &str, force: Option<&str>) -> Exit {
    let body = match force {
        Some(reason) => serde_json::json!({ "force": true, "reason": reason }),
        None => Value::Null,
    };
    mutate(url, token, &format!("/v1/regions/{region}/restore"), body).await
}

/// The host name, the default instance id.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: a valid buffer and its length; gethostname NUL-terminates within it.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if ok && !h.is_empty() => h.to_owned(),
        _ => "geoplan".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn recent_flips_newest_first_and_cost_against_budget() {
        let events = [
            json!({"id": 1, "at": "2026-11-28T10:00:00.000Z", "region": null, "kind": "start", "message": "started"}),
            json!({"id": 2, "at": "2026-11-28T10:01:00.000Z", "region": "us-east-1", "kind": "failover", "message": "out", "took_ms": 1620}),
            json!({"id": 3, "at": "2026-11-28T10:02:00.000Z", "region": "us-east-1", "kind": "failback", "message": "in", "took_ms": 2450}),
            json!({"id": 4, "at": "2026-11-28T10:03:00.000Z", "region": "us-east-1", "kind": "probe", "message": "x"}),
        ];
        let cost = json!({
            "month": {"year": 2026, "month": 11},
            "scope": "tag geoplan:name=shop", "scope_note": null,
            "matrix": {"transfer_usd": 10.0, "replication_usd": 0.5, "pairs": [
                {"from": "eu-west-1", "to": "us-east-1", "gb": 100.0, "usd": 2.0},
                {"from": "us-east-1", "to": "eu-west-1", "gb": 400.0, "usd": 8.0}]},
            "budget": {"budget_usd": 50.0, "spend_usd": 10.5, "fraction": 0.21,
                       "forecast_usd": 11.25, "forecast_fraction": 0.225, "crossed": []}
        });
        assert_eq!(
            render_recent(&events, Some(&cost), Style::Plain),
            "\nRECENT FLIPS\n\
             \x20 2026-11-28T10:02:00.000Z failback  us-east-1        took 2.45 s\n\
             \x20 2026-11-28T10:01:00.000Z failover  us-east-1        took 1.62 s\n\
             \nCOST 2026-11: transfer $10.00, replication $0.50 (scope: tag geoplan:name=shop)\n\
             \x20 budget $50.00: spent $10.50 (21%), forecast $11.25 (22%)\n\
             \x20 us-east-1 → eu-west-1: 400.0 GB, $8.00\n\
             \x20 eu-west-1 → us-east-1: 100.0 GB, $2.00\n"
        );
        assert_eq!(render_recent(&[], None, Style::Plain), "", "nothing to add");
    }
}
