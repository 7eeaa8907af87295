//! The per-region health verdict: up → suspect → down → recovering → up, driven by
//! probe outcomes and counted thresholds. Pure: no clock reads, no IO; the caller
//! passes the time of each probe.

use std::time::{Duration, SystemTime};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Answering; the normal state.
    Up,
    /// Failed at least once, fewer than `fail_after` times in a row.
    Suspect,
    /// Failed `fail_after` times in a row.
    Down,
    /// Down, then answered at least once, fewer than `recover_after` times in a row.
    Recovering,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Up => "up",
            Verdict::Suspect => "suspect",
            Verdict::Down => "down",
            Verdict::Recovering => "recovering",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub fail_after: u32,
    pub recover_after: u32,
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub at: SystemTime,
    pub ok: bool,
    pub latency: Duration,
    /// Why it failed: a status code, a timeout, a refused connection.
    pub error: Option<String>,
}

/// The verdict machine of one region: geoplan's own probes folded into a verdict
/// (not Route 53's status of the endpoint check, which is read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub verdict: Verdict,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_probe: Option<Probe>,
    /// When the verdict last changed.
    pub since: Option<SystemTime>,
    /// When the current run of failures (or successes) began: the first evidence of
    /// what the verdict now says, from which a failover's duration is measured.
    pub streak_since: Option<SystemTime>,
}

/// A verdict change worth recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Verdict,
    pub to: Verdict,
}

impl Default for Tracker {
    fn default() -> Self {
        // A region starts up: geoplan does not fail over on startup before it has
        // seen `fail_after` failures of its own.
        Tracker {
            verdict: Verdict::Up,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_probe: None,
            since: None,
            streak_since: None,
        }
    }
}

impl Tracker {
    /// For a region found out of service: it must earn `recover_after` good probes
    /// before it counts as up, so a restart never puts back an unprobed region.
    pub fn starting_down() -> Self {
        Tracker {
            verdict: Verdict::Down,
            ..Tracker::default()
        }
    }

    /// Folds one probe in; returns the transition if the verdict changed.
    pub fn observe(&mut self, probe: Probe, t: Thresholds) -> Option<Transition> {
        let from = self.verdict;
        if self.last_probe.as_ref().map(|p| p.ok) != Some(probe.ok) {
            self.streak_since = Some(probe.at);
        }
        if probe.ok {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
        }
        let at = probe.at;
        self.last_probe = Some(probe);
        self.verdict = match (from, self.last_probe.as_ref().is_some_and(|p| p.ok)) {
            (Verdict::Up | Verdict::Suspect, true) => Verdict::Up,
            (Verdict::Up | Verdict::Suspect, false)
                if self.consecutive_failures >= t.fail_after =>
            {
                Verdict::Down
            }
            (Verdict::Up | Verdict::Suspect, false) => Verdict::Suspect,
            (Verdict::Down | Verdict::Recovering, true)
                if self.consecutive_successes >= t.recover_after =>
            {
                Verdict::Up
            }
            (Verdict::Down | Verdict::Recovering, true) => Verdict::Recovering,
            // A failure interrupts recovery: start counting again from down.
            (Verdict::Down | Verdict::Recovering, false) => Verdict::Down,
        };
        (self.verdict != from).then(|| {
            self.since = Some(at);
            Transition {
                from,
                to: self.verdict,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_starts_at_its_first_probe() {
        let mut h = Tracker::default();
        h.observe(probe(true, 0), T);
        h.observe(probe(true, 1), T);
        assert_eq!(h.streak_since, Some(probe(true, 0).at));
        h.observe(probe(false, 2), T);
        h.observe(probe(false, 3), T);
        assert_eq!(h.verdict, Verdict::Down);
        // Down at the second failure; the streak (and the detection) began at the first.
        assert_eq!(h.streak_since, Some(probe(false, 2).at));
        assert_eq!(h.since, Some(probe(false, 3).at));
        h.observe(probe(true, 4), T);
        assert_eq!(h.streak_since, Some(probe(true, 4).at));
    }

    const T: Thresholds = Thresholds {
        fail_after: 2,
        recover_after: 3,
    };

    fn probe(ok: bool, s: u64) -> Probe {
        Probe {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(s),
            ok,
            latency: Duration::from_millis(5),
            error: (!ok).then(|| "connection refused".into()),
        }
    }

    /// Feeds a pattern like "ffxx" (f = fail, x = ok) and returns the verdict after each.
    fn run(h: &mut Tracker, pattern: &str, t: Thresholds) -> Vec<&'static str> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| {
                h.observe(probe(c == 'x', i as u64), t);
                h.verdict.as_str()
            })
            .collect()
    }

    #[test]
    fn goes_down_after_fail_after_and_up_after_recover_after() {
        let mut h = Tracker::default();
        assert_eq!(
            run(&mut h, "xffxxx", T),
            ["up", "suspect", "down", "recovering", "recovering", "up"]
        );
    }

    #[test]
    fn a_single_failure_does_not_take_a_region_down() {
        let mut h = Tracker::default();
        assert_eq!(
            run(&mut h, "fxfxfxfx", T),
            [
                "suspect", "up", "suspect", "up", "suspect", "up", "suspect", "up"
            ]
        );
    }

    #[test]
    fn a_failure_interrupts_recovery() {
        let mut h = Tracker::default();
        assert_eq!(
            run(&mut h, "ffxxfxxx", T),
            [
                "suspect",
                "down",
                "recovering",
                "recovering",
                "down",
                "recovering",
                "recovering",
                "up"
            ]
        );
        assert_eq!(h.consecutive_successes, 3);
    }

    #[test]
    fn thresholds_of_one_skip_the_intermediate_states() {
        let t = Thresholds {
            fail_after: 1,
            recover_after: 1,
        };
        let mut h = Tracker::default();
        assert_eq!(run(&mut h, "fxfx", t), ["down", "up", "down", "up"]);
    }

    #[test]
    fn transitions_are_reported_once_with_their_time() {
        let mut h = Tracker::default();
        assert_eq!(
            h.observe(probe(false, 1), T),
            Some(Transition {
                from: Verdict::Up,
                to: Verdict::Suspect
            })
        );
        assert_eq!(
            h.observe(probe(false, 2), T),
            Some(Transition {
                from: Verdict::Suspect,
                to: Verdict::Down
            })
        );
        assert_eq!(
            h.observe(probe(false, 3), T),
            None,
            "staying down is not a transition"
        );
        assert_eq!(
            h.since,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2))
        );
        assert_eq!(
            h.last_probe.as_ref().unwrap().error.as_deref(),
            Some("connection refused")
        );
    }

    #[test]
    fn a_region_starting_down_must_earn_its_way_back() {
        let mut h = Tracker::starting_down();
        assert_eq!(run(&mut h, "xxx", T), ["recovering", "recovering", "up"]);
    }
}
