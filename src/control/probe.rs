//! Probing regional endpoints the way Route 53 does: HTTP(S) must answer 2xx/3xx
//! within the timeout (certificates are not verified, as Route 53 does not), TCP must
//! accept a connection. One task per target, so a hung endpoint delays only itself.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Endpoint, Protocol};
use crate::control::verdict::Probe;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub region: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub fn url(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        let scheme = if self.protocol == Protocol::Https {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// The probe targets of every region, in config order.
pub fn targets(config: &Config) -> Vec<Target> {
    config
        .regions
        .iter()
        .map(|r| Target {
            region: r.name.clone(),
            protocol: r.health.protocol,
            host: match &r.endpoint {
                Endpoint::Ipv4(ip) => ip.to_string(),
                Endpoint::Ipv6(ip) => ip.to_string(),
                Endpoint::Hostname(h) => h.clone(),
                Endpoint::Alias { name, .. } => name.clone(),
            },
            port: r.health.port,
            path: r.health.path.clone().unwrap_or_else(|| "/".into()),
        })
        .collect()
}

/// An HTTP client for probes: no redirects followed, no connection reuse (each probe
/// opens a connection, as Route 53's checkers do, so a server that stops accepting
/// is seen at once), certificates not verified.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .danger_accept_invalid_certs(true)
        .user_agent(concat!("geoplan-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// The drill switch: `GEOPLAN_FAULT_DROP_PROBES=eu-west-1,us-east-1` makes this
/// instance's probes of those regions fail as if the network dropped them (no answer
/// within the timeout). It changes nothing else: for tests, and for operators
/// rehearsing a partition of one vantage point.
pub const FAULT_DROP_PROBES: &str = "GEOPLAN_FAULT_DROP_PROBES";

/// The regions `GEOPLAN_FAULT_DROP_PROBES` names, read once.
fn dropped(region: &str) -> bool {
    static DROPPED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DROPPED
        .get_or_init(|| {
            std::env::var(FAULT_DROP_PROBES)
                .unwrap_or_default()
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .iter()
        .any(|r| r == region)
}

/// Probes once. Never fails: a failure is a probe with `ok == false` and a reason.
pub async fn probe(client: &reqwest::Client, target: &Target, timeout: Duration) -> Probe {
    let at = SystemTime::now();
    let started = Instant::now();
    if dropped(&target.region) {
        tokio::time::sleep(timeout).await;
        return Probe {
            at,
            ok: false,
            latency: started.elapsed(),
            error: Some(format!(
                "no answer within {} (dropped by {FAULT_DROP_PROBES})",
                humantime::format_duration(timeout)
            )),
        };
    }
    let result: Result<(), String> = match target.protocol {
        Protocol::Tcp => match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no connection within {}",
                humantime::format_duration(timeout)
            )),
        },
        Protocol::Http | Protocol::Https => {
            match client.get(target.url()).timeout(timeout).send().await {
                Ok(resp) if resp.status().is_success() || resp.status().is_redirection() => Ok(()),
                Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
                Err(e) if e.is_timeout() => Err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                )),
                Err(e) if e.is_connect() => Err(format!("connection failed: {}", root_cause(&e))),
                Err(e) => Err(root_cause(&e)),
            }
        }
    };
    Probe {
        at,
        ok: result.is_ok(),
        latency: started.elapsed(),
        error: result.err(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// How the probing loops run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    pub timeout: Duration,
    /// A failure that would make `fail_after` in a row is confirmed first.
    pub fail_after: u32,
    /// Parallel confirmation probes; the failure stands only if all of them fail.
    /// Zero reports every failure as it comes.
    pub confirm: u32,
}

/// Probes, confirming a failure that would reach the threshold: with k confirmations
/// a random 10% loss yields a false "down" about once in 10^(k+2) probes, while a
/// dead endpoint (refused, or hung past the timeout) fails them all at once.
async fn probe_confirmed(
    client: &reqwest::Client,
    target: &Target,
    schedule: &Schedule,
    failures_so_far: u32,
) -> Probe {
    let first = probe(client, target, schedule.timeout).await;
    if first.ok || schedule.confirm == 0 || failures_so_far + 1 < schedule.fail_after {
        return first;
    }
    let confirmations = (0..schedule.confirm).map(|_| probe(client, target, schedule.timeout));
    let results = futures_util::future::join_all(confirmations).await;
    match results.into_iter().find(|p| p.ok) {
        // One confirmation answered: the failure was a blip, not an outage.
        Some(ok) => Probe {
            at: first.at,
            latency: ok.latency,
            ok: true,
            error: None,
        },
        None => first,
    }
}

/// Where a loop reports its progress: loop `first + i` of the watchdog.
#[derive(Clone)]
pub struct Beat {
    pub watchdog: std::sync::Arc<crate::control::watchdog::Watchdog>,
    pub first: usize,
}

impl Beat {
    pub fn beat(&self, offset: usize) {
        self.watchdog.beat(self.first + offset);
    }
}

/// Starts one probing loop per target; each sends `(target index, probe)` until
/// cancelled, and beats once its probe is handed over. Probes that would overlap are
/// skipped, not queued.
pub fn spawn(
    targets: Vec<Target>,
    schedule: Schedule,
    results: mpsc::Sender<(usize, Probe)>,
    beat: Beat,
    cancel: CancellationToken,
) -> JoinSet<()> {
    let client = client();
    let mut set = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let (client, results, cancel) = (client.clone(), results.clone(), cancel.clone());
        let beat = beat.clone();
        set.spawn(async move {
            let mut tick = tokio::time::interval(schedule.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failures = 0u32;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {
                        let p = tokio::select! {
                            _ = cancel.cancelled() => break,
                            p = probe_confirmed(&client, &target, &schedule, failures) => p,
                        };
                        failures = if p.ok { 0 } else { failures + 1 };
                        if results.send((i, p)).await.is_err() {
                            break;
                        }
                        beat.beat(i);
                    }
                }
            }
        });
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_http_tcp_and_reports_failures() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let status = if req.starts_with("GET /ok ") {
                        "200 OK"
                    } else if req.starts_with("GET /hang ") {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let _ = s.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await;
                });
            }
        });
        let c = client();
        let t = |protocol, path: &str, port| Target {
            region: "r".into(),
            protocol,
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
        };
        let ms = Duration::from_millis;
        assert!(probe(&c, &t(Protocol::Http, "/ok", port), ms(500)).await.ok);
        let bad = probe(&c, &t(Protocol::Http, "/bad", port), ms(500)).await;
        assert_eq!((bad.ok, bad.error.as_deref()), (false, Some("HTTP 503")));
        let hang = probe(&c, &t(Protocol::Http, "/hang", port), ms(200)).await;
        assert_eq!(
            (hang.ok, hang.error.as_deref()),
            (false, Some("no answer within 200ms"))
        );
        assert!(hang.latency < ms(1000));
        assert!(probe(&c, &t(Protocol::Tcp, "/", port), ms(500)).await.ok);
        // A port nothing listens on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = probe(&c, &t(Protocol::Http, "/ok", closed), ms(500)).await;
        assert!(
            !refused.ok
                && refused
                    .error
                    .as_deref()
                    .unwrap()
                    .starts_with("connection failed"),
            "{refused:?}"
        );
        assert!(!probe(&c, &t(Protocol::Tcp, "/", closed), ms(500)).await.ok);
    }

    #[tokio::test]
    async fn a_failure_at_the_threshold_is_confirmed_before_it_counts() {
        // Fails the first request only.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut n = 0;
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                n += 1;
                let status = if n == 1 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let c = client();
        let target = Target {
            region: "r".into(),
            protocol: Protocol::Http,
            host: "127.0.0.1".into(),
            port,
            path: "/".into(),
        };
        let ms = Duration::from_millis;
        let schedule = Schedule {
            interval: ms(100),
            timeout: ms(500),
            fail_after: 2,
            confirm: 2,
        };
        // One failure so far: this one would make two, so it is confirmed, and the
        // confirmations succeed.
        assert!(probe_confirmed(&c, &target, &schedule, 1).await.ok);

        let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = Target {
            port: dead,
            ..target
        };
        let p = probe_confirmed(&c, &target, &schedule, 1).await;
        assert!(!p.ok, "a dead endpoint fails its confirmations too");
        let unconfirmed = Schedule {
            confirm: 0,
            ..schedule
        };
        assert!(!probe_confirmed(&c, &target, &unconfirmed, 1).await.ok);
    }

    #[test]
    fn urls_bracket_ipv6() {
        let t = Target {
            region: "r".into(),
            protocol: Protocol::Https,
            host: "2001:db8::1".into(),
            port: 443,
            path: "/h".into(),
        };
        assert_eq!(t.url(), "https://[2001:db8::1]:443/h");
    }
}
