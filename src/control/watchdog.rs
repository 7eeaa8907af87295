//! Liveness of the control plane's loops, for `/healthz`: the controller and every
//! prober beat after each unit of work, and a loop that has not beaten within the
//! bound counts as stalled, so an orchestrator restarts a stuck instance instead of
//! trusting a server that still answers HTTP while its failover has stopped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Watchdog {
    started: Instant,
    names: Vec<String>,
    /// Milliseconds after `started` of each loop's last beat. Atomics, not a lock:
    /// beating must never wait, whatever the API is doing.
    beats: Vec<AtomicU64>,
    bound: Duration,
}

/// A loop that has not made progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub name: String,
    pub silent_for: Duration,
}

impl Watchdog {
    /// Loops named in order (their index is what `beat` takes); all count as having
    /// just beaten.
    pub fn new(names: Vec<String>, bound: Duration) -> Watchdog {
        let beats = names.iter().map(|_| AtomicU64::new(0)).collect();
        Watchdog {
            started: Instant::now(),
            names,
            beats,
            bound,
        }
    }

    /// How long a loop may go without progress: a probe every `interval` takes at most
    /// `timeout` (plus as long again for confirmation probes), and the controller sees
    /// a probe per region per interval; three missed rounds, and never under 5 s.
    pub fn bound_for(interval: Duration, timeout: Duration) -> Duration {
        (3 * (interval + 2 * timeout)).max(Duration::from_secs(5))
    }

    pub fn beat(&self, index: usize) {
        self.beat_at(index, Instant::now());
    }

    fn beat_at(&self, index: usize, now: Instant) {
        if let Some(b) = self.beats.get(index) {
            let ms = now.saturating_duration_since(self.started).as_millis() as u64;
            b.store(ms, Ordering::Relaxed);
        }
    }

    /// The loops silent for longer than the bound at `now`.
    pub fn stalls(&self, now: Instant) -> Vec<Stall> {
        let elapsed = now.saturating_duration_since(self.started);
        self.names
            .iter()
            .zip(&self.beats)
            .filter_map(|(name, b)| {
                let last = Duration::from_millis(b.load(Ordering::Relaxed));
                let silent_for = elapsed.saturating_sub(last);
                (silent_for > self.bound).then(|| Stall {
                    name: name.clone(),
                    silent_for,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_reported_after_the_bound() {
        let w = Watchdog::new(
            vec!["controller".into(), "probe eu-west-1".into()],
            Duration::from_secs(5),
        );
        let t0 = w.started;
        assert!(w.stalls(t0 + Duration::from_secs(5)).is_empty());
        w.beat_at(0, t0 + Duration::from_secs(4));
        let stalls = w.stalls(t0 + Duration::from_secs(6));
        assert_eq!(
            stalls.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["probe eu-west-1"],
            "only the loop that did not beat"
        );
        assert_eq!(
            Watchdog::bound_for(Duration::from_secs(1), Duration::from_millis(800)),
            Duration::from_millis(7800)
        );
        assert_eq!(
            Watchdog::bound_for(Duration::from_millis(200), Duration::from_millis(150)),
            Duration::from_secs(5)
        );
    }
}
