//! The control plane's monotonic time: `Moment`, time since boot *including* time the
//! host spent suspended (Linux `CLOCK_BOOTTIME`). `std::time::Instant` stops while the
//! host sleeps, so an actor whose host was suspended past its lease would wake up
//! believing its lease still valid; a `Moment` has moved on by the whole suspension.
//!
//! The pure core (`lease`, `cluster`, `core`) never reads a clock: every decision takes a
//! `Moment` from its caller, so the simulator drives it with virtual time.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on this host's boot-time clock (or on a simulator's virtual clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(Duration);

impl Moment {
    /// Now, on the boot-time clock.
    pub fn now() -> Moment {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every
        // Linux this runs on (2.6.39+). On failure `ts` stays zero and time stands still,
        // which only makes the lease end sooner (the actor stops acting), never later.
        unsafe {
            libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts);
        }
        Moment(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    /// A moment `since` after the clock's origin (simulators and tests).
    pub const fn at(since: Duration) -> Moment {
        Moment(since)
    }

    /// Time since the clock's origin.
    pub fn since_origin(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn since(self, earlier: Moment) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Moment {
    type Output = Moment;
    fn add(self, d: Duration) -> Moment {
        Moment(self.0 + d)
    }
}

impl Sub<Duration> for Moment {
    type Output = Moment;
    fn sub(self, d: Duration) -> Moment {
        Moment(self.0.saturating_sub(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_time_moves_forward_and_saturates_backwards() {
        let a = Moment::now();
        std::thread::sleep(Duration::from_millis(5));
        let b = Moment::now();
        assert!(b.since(a) >= Duration::from_millis(5), "{a:?} {b:?}");
        assert_eq!(a.since(b), Duration::ZERO);
        assert_eq!(
            Moment::at(Duration::from_secs(1)) - Duration::from_secs(5),
            Moment::default()
        );
    }
}
