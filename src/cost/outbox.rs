//! The budget alert outbox, in the store's `alerts` table: each threshold raised once
//! a month across restarts, pending until the receiver answers 2xx, with its attempts
//! and when the next is due.

use std::time::SystemTime;

use rusqlite::params;
use serde::Serialize;

use crate::store::{Store, StoreError, millis, rfc3339, time};

/// A budget alert: raised once per threshold and month, delivered at least once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub month: String,
    pub threshold: f64,
    /// `<deployment>/<month>/<threshold>`: the same on every attempt and every instance,
    /// so a receiver drops duplicates.
    pub dedup_key: String,
    #[serde(serialize_with = "rfc3339")]
    pub raised_at: SystemTime,
    /// The webhook body; `None` when no webhook is configured.
    #[serde(skip)]
    pub payload: Option<String>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub delivered_at: Option<SystemTime>,
    pub attempts: u32,
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_at: Option<SystemTime>,
    pub last_error: Option<String>,
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// The outbox's rows in the store. A trait rather than an `impl Store` here: each
/// caller then names this module in a `use`, so the dependency shows (and
/// `tests/it/layout.rs` sees it).
pub trait AlertOutbox {
    /// Raises the alert for `threshold` in `month`: true the first time only, across
    /// restarts, so each threshold alerts once a month. With a `payload` it joins the
    /// outbox, due at once, until `alert_attempt` records its delivery; without one
    /// there is nowhere to send it.
    fn raise_alert(
        &self,
        month: &str,
        threshold: f64,
        dedup_key: &str,
        payload: Option<&str>,
        at: SystemTime,
    ) -> Result<bool, StoreError>;

    /// Undelivered alerts whose next attempt is due at `now`, oldest first.
    fn due_alerts(&self, now: SystemTime) -> Result<Vec<Alert>, StoreError>;

    /// The alerts of the newest months, newest first (for `/v1/cost`).
    fn recent_alerts(&self) -> Result<Vec<Alert>, StoreError>;

    /// Records one delivery attempt: delivered, or failed with the time of the next.
    fn alert_attempt(
        &self,
        month: &str,
        threshold: f64,
        outcome: Result<SystemTime, (&str, SystemTime)>,
    ) -> Result<(), StoreError>;
}

impl AlertOutbox for Store {
    fn raise_alert(
        &self,
        month: &str,
        threshold: f64,
        dedup_key: &str,
        payload: Option<&str>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let n = self.with_conn(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO alerts (month, threshold, at_ms, dedup_key, payload, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?3)",
                params![month, threshold, millis(at), dedup_key, payload],
            )
        })?;
        Ok(n == 1)
    }

    fn due_alerts(&self, now: SystemTime) -> Result<Vec<Alert>, StoreError> {
        query_alerts(
            self,
            "payload IS NOT NULL AND delivered_ms IS NULL AND next_ms <= ?1 ORDER BY at_ms, threshold",
            millis(now),
        )
    }

    fn recent_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        query_alerts(self, "?1 = ?1 ORDER BY at_ms DESC LIMIT 50", 0)
    }

    fn alert_attempt(
        &self,
        month: &str,
        threshold: f64,
        outcome: Result<SystemTime, (&str, SystemTime)>,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| match outcome {
            Ok(at) => conn.execute(
                "UPDATE alerts SET delivered_ms = ?3, attempts = attempts + 1, next_ms = NULL, last_error = NULL
                 WHERE month = ?1 AND threshold = ?2",
                params![month, threshold, millis(at)],
            ),
            Err((error, next)) => conn.execute(
                "UPDATE alerts SET attempts = attempts + 1, next_ms = ?3, last_error = ?4
                 WHERE month = ?1 AND threshold = ?2",
                params![month, threshold, millis(next), error],
            ),
        })?;
        Ok(())
    }
}

fn query_alerts(store: &Store, condition: &str, bound: i64) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT month, threshold, at_ms, dedup_key, payload, delivered_ms, attempts, next_ms, last_error
         FROM alerts WHERE {condition}"
    );
    store.with_conn(|conn| {
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![bound], |r| {
            Ok(Alert {
                month: r.get(0)?,
                threshold: r.get(1)?,
                raised_at: time(r.get(2)?),
                dedup_key: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                payload: r.get(4)?,
                delivered_at: r.get::<_, Option<i64>>(5)?.map(time),
                attempts: r.get::<_, i64>(6)?.max(0) as u32,
                next_at: r.get::<_, Option<i64>>(7)?.map(time),
                last_error: r.get(8)?,
            })
        })?;
        rows.collect()
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use rusqlite::Connection;

    use super::*;
    use crate::store::FILE_NAME;

    #[test]
    fn alerts_stay_due_until_delivered_and_old_ones_count_as_sent() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A store as an earlier version wrote it: alerts claimed, nothing queued.
            let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
                     region TEXT, kind TEXT NOT NULL, message TEXT NOT NULL);
                 CREATE TABLE alerts (month TEXT NOT NULL, threshold REAL NOT NULL,
                     at_ms INTEGER NOT NULL, PRIMARY KEY (month, threshold));
                 INSERT INTO alerts VALUES ('2026-10', 0.5, 1000);",
            )
            .unwrap();
        }
        let store = Store::open(dir.path(), "shop").unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(
            store.due_alerts(t0).unwrap().is_empty(),
            "the old alert was sent"
        );
        assert!(
            store
                .raise_alert("2026-11", 0.8, "shop/2026-11/0.8", Some("{\"x\":1}"), t0)
                .unwrap()
        );
        assert!(
            store
                .raise_alert("2026-11", 0.5, "shop/2026-11/0.5", None, t0)
                .unwrap()
        );
        let due = store.due_alerts(t0).unwrap();
        assert_eq!(
            due.iter()
                .map(|a| (a.dedup_key.as_str(), a.attempts))
                .collect::<Vec<_>>(),
            [("shop/2026-11/0.8", 0)],
            "only alerts with somewhere to go are due"
        );
        let retry = t0 + Duration::from_secs(4);
        store
            .alert_attempt("2026-11", 0.8, Err(("HTTP 503", retry)))
            .unwrap();
        assert!(
            store
                .due_alerts(t0 + Duration::from_secs(3))
                .unwrap()
                .is_empty(),
            "backing off"
        );
        let again = store.due_alerts(retry).unwrap();
        assert_eq!(
            (again[0].attempts, again[0].last_error.as_deref()),
            (1, Some("HTTP 503"))
        );
        // Across a restart: the outbox is in the store.
        drop(store);
        let store = Store::open(dir.path(), "shop").unwrap();
        assert_eq!(store.due_alerts(retry).unwrap().len(), 1);
        store.alert_attempt("2026-11", 0.8, Ok(retry)).unwrap();
        assert!(
            store
                .due_alerts(retry + Duration::from_secs(3600))
                .unwrap()
                .is_empty()
        );
        let recent = store.recent_alerts().unwrap();
        assert_eq!(recent.len(), 3);
        let delivered = recent.iter().find(|a| a.threshold == 0.8).unwrap();
        assert_eq!(
            (delivered.delivered_at, delivered.attempts),
            (Some(retry), 2)
        );
    }

    #[test]
    fn each_threshold_alerts_once_a_month() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "shop").unwrap();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert!(
            store
                .raise_alert("2026-11", 0.5, "shop/2026-11/0.5", Some("{}"), t0)
                .unwrap()
        );
        assert!(
            !store
                .raise_alert("2026-11", 0.5, "shop/2026-11/0.5", Some("{}"), t0)
                .unwrap(),
            "once a month"
        );
        assert!(
            store
                .raise_alert("2026-12", 0.5, "shop/2026-12/0.5", None, t0)
                .unwrap()
        );
    }
}
