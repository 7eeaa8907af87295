//! Footprint of the probe loop: TARGETS targets (default 1000) probed every second
//! for SECONDS seconds (default 30) after a 5 s warm-up, through `probe::spawn` — the
//! code `geoplan serve` runs. The targets are served by HTTP servers in a child
//! process (this same binary in server mode), so the CPU and memory measured are the
//! prober's alone. Reports CPU as a share of one core, peak RSS, and probe counts.
//!
//! Run: `cargo bench --bench probe_footprint`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geoplan::config::Protocol;
use geoplan::control::probe::{Schedule, Target};

const SERVER_PORTS: usize = 8;

fn cpu_seconds() -> f64 {
    // utime + stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100/s on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}

async fn serve_targets() {
    let mut ports = Vec::new();
    for _ in 0..SERVER_PORTS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            let _ = axum::serve(listener, axum::Router::new().fallback(|| async { "ok" })).await;
        });
    }
    println!(
        "{}",
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    std::future::pending::<()>().await;
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--serve-targets") {
        return serve_targets().await;
    }
    let targets_n: usize = std::env::var("TARGETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("--serve-targets")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Vec<u16> = line.trim().split(',').map(|p| p.parse().unwrap()).collect();

    let targets: Vec<Target> = (0..targets_n)
        .map(|i| Target {
            region: format!("t{i}"),
            protocol: Protocol::Http,
            host: "127.0.0.1".into(),
            port: ports[i % ports.len()],
            path: format!("/healthz/{i}"),
        })
        .collect();
    let schedule = Schedule {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(800),
        fail_after: 2,
        confirm: 3,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let cancel = tokio_util::sync::CancellationToken::new();
    let watchdog = std::sync::Arc::new(geoplan::control::watchdog::Watchdog::new(
        (0..targets.len()).map(|i| format!("prober {i}")).collect(),
        Duration::from_secs(5),
    ));
    let beat = geoplan::control::probe::Beat { watchdog, first: 0 };
    let mut probers = geoplan::control::probe::spawn(targets, schedule, tx, beat, cancel.clone());
    let counter = tokio::spawn(async move {
        let (mut ok, mut failed, mut latency) = (0u64, 0u64, 0f64);
        while let Some((_, p)) = rx.recv().await {
            if p.ok {
                ok += 1
            } else {
                failed += 1
            }
            latency += p.latency.as_secs_f64();
        }
        (ok, failed, latency)
    });

    tokio::time::sleep(Duration::from_secs(5)).await; // warm-up: connections, allocator
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, wall) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    cancel.cancel();
    while probers.join_next().await.is_some() {}
    let (ok, failed, latency) = counter.await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let total = ok + failed;
    println!(
        "{targets_n} targets every 1 s for {seconds} s (+5 s warm-up): CPU {:.1}% of one core, peak RSS {:.1} MB, {:.0} probes/s, {failed} failed of {total}, mean latency {:.2} ms",
        (cpu1 - cpu0) / wall * 100.0,
        peak_rss_mb(),
        total as f64 / (wall + 5.0),
        latency / total.max(1) as f64 * 1e3
    );
}
