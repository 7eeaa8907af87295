//! The Route 53 request budget: Route 53 allows 5 requests per second per account,
//! shared by every tool in it, so geoplan paces its own calls below that (default 4/s):
//! one request every 1/rate seconds, no burst, so no one-second window ever holds more
//! than the rate. Every Route 53 call of the running control plane waits here.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

/// Spaced requests: each takes the next free slot, `interval` after the previous one.
pub struct Gate {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
    requests: Counter,
}

impl Gate {
    pub fn new(per_second: f64, requests: Counter) -> Gate {
        Gate {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.01)),
            next: tokio::sync::Mutex::new(Instant::now()),
            requests,
        }
    }

    /// Waits for this request's turn.
    pub async fn wait(&self) {
        let go_at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(go_at).await;
        self.requests.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_requests_than_the_rate() {
        let gate = std::sync::Arc::new(Gate::new(4.0, Counter::default()));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let g = gate.clone();
            tasks.push(tokio::spawn(async move {
                g.wait().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(
            times[19],
            Duration::from_millis(250 * 19),
            "one every 250 ms: {times:?}"
        );
        for window in times.windows(5) {
            assert!(
                window[4] - window[0] >= Duration::from_millis(750),
                "at most 4 in any second: {times:?}"
            );
        }
        assert_eq!(gate.requests.get(), 20);
    }
}
