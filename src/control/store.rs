//! The control plane's rows in the store: each switch's state and cause (Route 53
//! knows only whether a switch is inverted, not who inverted it or why), and the
//! write-ahead intents of flips in flight.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use crate::control::failover::{Cause, Switch};
use crate::store::{Store, StoreError, millis, time};

/// A switch's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSwitch {
    pub switch: Switch,
    pub last_action: Option<SystemTime>,
}

/// A flip geoplan is about to make, recorded before the Route 53 call so that a restart
/// (or a read-back that failed) can tell geoplan's own change from someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub switch: Switch,
    pub at: SystemTime,
    /// The switch's `HealthCheckVersion` the flip was fenced on: only a read showing a
    /// newer version can show the flip landed (`None` in stores from before it was kept:
    /// any version then counts).
    pub base_version: Option<i64>,
}

/// Switches and intents, read and written on the store. A trait rather than an
/// `impl Store` here: each caller then names this module in a `use`, so the dependency
/// shows (and `tests/it/layout.rs` sees it).
pub trait SwitchStore {
    fn save_switch(&self, region: &str, s: &StoredSwitch) -> Result<(), StoreError>;

    fn load_switch(&self, region: &str) -> Result<Option<StoredSwitch>, StoreError>;

    /// Records a flip about to be made; replaced by the next one for the region.
    fn save_intent(&self, region: &str, intent: &Intent) -> Result<(), StoreError>;

    fn load_intent(&self, region: &str) -> Result<Option<Intent>, StoreError>;

    fn clear_intent(&self, region: &str) -> Result<(), StoreError>;
}

impl SwitchStore for Store {
    fn save_switch(&self, region: &str, s: &StoredSwitch) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO switches (region, in_service, cause, reason, since_ms, last_action_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(region) DO UPDATE SET in_service = ?2, cause = ?3, reason = ?4, since_ms = ?5, last_action_ms = ?6",
                params![
                    region,
                    s.switch.in_service,
                    s.switch.cause.map(Cause::as_str),
                    s.switch.reason,
                    s.switch.since.map(millis),
                    s.last_action.map(millis)
                ],
            )
        })?;
        Ok(())
    }

    fn load_switch(&self, region: &str) -> Result<Option<StoredSwitch>, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT in_service, cause, reason, since_ms, last_action_ms FROM switches WHERE region = ?1",
                params![region],
                |r| {
                    let cause: Option<String> = r.get(1)?;
                    Ok(StoredSwitch {
                        switch: Switch {
                            in_service: r.get(0)?,
                            cause: cause.as_deref().and_then(Cause::parse),
                            reason: r.get(2)?,
                            since: r.get::<_, Option<i64>>(3)?.map(time),
                        },
                        last_action: r.get::<_, Option<i64>>(4)?.map(time),
                    })
                },
            )
            .optional()
        })
    }

    fn save_intent(&self, region: &str, intent: &Intent) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO intents (region, in_service, cause, reason, at_ms, base_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(region) DO UPDATE SET in_service = ?2, cause = ?3, reason = ?4, at_ms = ?5, base_version = ?6",
                params![
                    region,
                    intent.switch.in_service,
                    intent.switch.cause.map(Cause::as_str),
                    intent.switch.reason,
                    millis(intent.at),
                    intent.base_version
                ],
            )
        })?;
        Ok(())
    }

    fn load_intent(&self, region: &str) -> Result<Option<Intent>, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT in_service, cause, reason, at_ms, base_version FROM intents WHERE region = ?1",
                params![region],
                |r| {
                    let cause: Option<String> = r.get(1)?;
                    let at = time(r.get(3)?);
                    Ok(Intent {
                        switch: Switch {
                            in_service: r.get(0)?,
                            cause: cause.as_deref().and_then(Cause::parse),
                            reason: r.get(2)?,
                            since: Some(at),
                        },
                        at,
                        base_version: r.get(4)?,
                    })
                },
            )
            .optional()
        })
    }

    fn clear_intent(&self, region: &str) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute("DELETE FROM intents WHERE region = ?1", params![region])
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn switches_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        {
            let store = Store::open(dir.path(), "shop").unwrap();
            let s = StoredSwitch {
                switch: Switch {
                    in_service: false,
                    cause: Some(Cause::Manual),
                    reason: Some("maintenance".into()),
                    since: Some(t0),
                },
                last_action: Some(t0),
            };
            store.save_switch("eu-west-1", &s).unwrap();
        }
        let store = Store::open(dir.path(), "shop").unwrap();
        let s = store.load_switch("eu-west-1").unwrap().unwrap();
        assert_eq!(s.switch.cause, Some(Cause::Manual));
        assert_eq!(s.switch.reason.as_deref(), Some("maintenance"));
        assert_eq!(s.switch.since, Some(t0));
        assert!(store.load_switch("us-east-1").unwrap().is_none());
    }

    #[test]
    fn intents_are_kept_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "shop").unwrap();
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let intent = Intent {
            switch: Switch {
                in_service: false,
                cause: Some(Cause::Automatic),
                reason: Some("down".into()),
                since: Some(t),
            },
            at: t,
            base_version: Some(7),
        };
        store.save_intent("eu-west-1", &intent).unwrap();
        assert_eq!(store.load_intent("eu-west-1").unwrap(), Some(intent));
        store.clear_intent("eu-west-1").unwrap();
        assert_eq!(store.load_intent("eu-west-1").unwrap(), None);
    }
}
