//! The Route 53 request budget: Route 53 allows 5 requests per second per account,
//! shared by every tool in it, so geoplan paces its own calls below that (default 4/s)
//! such that no one-second window ever holds more than the rate. Every Route 53 call of
//! the running control plane waits here.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

/// A sliding window: a request may go once the request `per_window` places before it
/// went at least a window ago. The window has a small margin over the nominal second,
/// so jitter on the way cannot make Route 53 count one request too many.
pub struct Gate {
    per_window: usize,
    window: Duration,
    sent: tokio::sync::Mutex<std::collections::VecDeque<Instant>>,
    requests: Counter,
}

impl Gate {
    pub fn new(per_second: f64, requests: Counter) -> Gate {
        let per_second = per_second.max(0.01);
        // A whole number of requests per window: 4/s is 4 per second, 0.5/s is 1 per 2 s.
        let per_window = (per_second.floor() as usize).max(1);
        let nominal = Duration::from_secs_f64(per_window as f64 / per_second);
        Gate {
            per_window,
            window: nominal + nominal / 20,
            sent: tokio::sync::Mutex::new(std::collections::VecDeque::new()),
            requests,
        }
    }

    /// Waits for this request's turn.
    pub async fn wait(&self) {
        let go_at = {
            let mut sent = self.sent.lock().await;
            let now = Instant::now();
            let at = if sent.len() < self.per_window {
                now
            } else {
                (sent[sent.len() - self.per_window] + self.window).max(now)
            };
            sent.push_back(at);
            while sent.len() > self.per_window {
                sent.pop_front();
            }
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
        for window in times.windows(5) {
            assert!(
                window[4] - window[0] >= Duration::from_millis(750),
                "at most 4 in any second: {times:?}"
            );
        }
        assert_eq!(gate.requests.get(), 20);
    }
}
