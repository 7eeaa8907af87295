//! The event log: what happened, when, and to which region, written by every part
//! (the controller's probes and flips, cost's polls and alerts, the API's unconfirmed
//! drains) and read by the API as a cursor over ids that never go backwards.

use std::time::{Duration, SystemTime};

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError, millis, rfc3339, time};
use crate::config::EventRetention as Retention;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: i64,
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    pub region: Option<String>,
    pub kind: String,
    pub message: String,
    /// How long what the event reports took, when measured (flips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
}

impl Store {
    pub fn record(
        &self,
        at: SystemTime,
        region: Option<&str>,
        kind: &str,
        message: &str,
    ) -> Result<Event, StoreError> {
        self.record_took(at, region, kind, message, None)
    }

    /// Records an event with the measured duration of what it reports (a flip: from
    /// the first evidence to Route 53's confirmation).
    pub fn record_took(
        &self,
        at: SystemTime,
        region: Option<&str>,
        kind: &str,
        message: &str,
        took: Option<Duration>,
    ) -> Result<Event, StoreError> {
        let took_ms = took.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        let id = self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO events (at_ms, region, kind, message, took_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![millis(at), region, kind, message, took_ms],
            )?;
            Ok(conn.last_insert_rowid())
        })?;
        Ok(Event {
            id,
            at: time(millis(at)),
            region: region.map(str::to_owned),
            kind: kind.into(),
            message: message.into(),
            took_ms: took_ms.map(|t| t as u64),
        })
    }

    /// Events with id greater than `after`, oldest first, at most `limit`.
    pub fn events(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.query_events("id > ?1", after, limit)
    }

    /// Events at or after `since`, oldest first, at most `limit`.
    pub fn events_since_time(
        &self,
        since: SystemTime,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.query_events("at_ms >= ?1", millis(since), limit)
    }

    /// The newest `limit` events, oldest first.
    pub fn events_tail(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.query_events(
            "id > ?1 AND id IN (SELECT id FROM events ORDER BY id DESC LIMIT ?2)",
            0,
            limit,
        )
    }

    fn query_events(
        &self,
        condition: &str,
        bound: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT id, at_ms, region, kind, message, took_ms FROM events WHERE {condition} ORDER BY id LIMIT ?2"
        );
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![bound, limit], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    at: time(r.get(1)?),
                    region: r.get(2)?,
                    kind: r.get(3)?,
                    message: r.get(4)?,
                    took_ms: r.get::<_, Option<i64>>(5)?.map(|t| t.max(0) as u64),
                })
            })?;
            rows.collect()
        })
    }

    /// Deletes events older than `max_age` before `now`, then the oldest beyond
    /// `max_events`; returns how many went. The newest event is always kept, so
    /// event ids (the API's cursor) never go backwards.
    pub fn prune(&self, retention: Retention, now: SystemTime) -> Result<u64, StoreError> {
        let cutoff = millis(now).saturating_sub(retention.max_age.as_millis() as i64);
        self.with_conn(|conn| {
            let by_age = conn.execute(
                "DELETE FROM events WHERE at_ms < ?1 AND id < (SELECT max(id) FROM events)",
                params![cutoff],
            )?;
            let by_count = conn.execute(
                "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1",
                params![i64::from(retention.max_events.max(1))],
            )?;
            Ok((by_age + by_count) as u64)
        })
    }

    /// The newest event id, 0 when there is none.
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        // AUTOINCREMENT keeps ids growing even after the newest rows were deleted.
        self.with_reader(|conn| {
            conn.query_row(
                "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
                [],
                |r| r.get(0),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use rusqlite::Connection;

    use super::*;
    use crate::store::FILE_NAME;

    #[test]
    fn durations_survive_and_old_stores_gain_the_column() {
        let dir = tempfile::tempdir().unwrap();
        // A store as the previous version wrote it: no took_ms column.
        std::fs::create_dir_all(dir.path()).unwrap();
        {
            let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
                     region TEXT, kind TEXT NOT NULL, message TEXT NOT NULL);
                 INSERT INTO events (at_ms, region, kind, message) VALUES (1, NULL, 'start', 'old');",
            )
            .unwrap();
        }
        let store = Store::open(dir.path(), "shop").unwrap();
        let now = SystemTime::now();
        store
            .record_took(
                now,
                Some("eu-west-1"),
                "failover",
                "out",
                Some(Duration::from_millis(1620)),
            )
            .unwrap();
        store.record(now, None, "probe", "x").unwrap();
        let all = store.events(0, 10).unwrap();
        assert_eq!(
            all.iter()
                .map(|e| (e.message.as_str(), e.took_ms))
                .collect::<Vec<_>>(),
            [("old", None), ("out", Some(1620)), ("x", None)]
        );
        let tail = store.events_tail(2).unwrap();
        assert_eq!(
            tail.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["out", "x"],
            "the newest two, oldest first"
        );
        assert_eq!(store.events_tail(100).unwrap().len(), 3);
    }

    #[test]
    fn events_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        {
            let store = Store::open(dir.path(), "shop").unwrap();
            store
                .record(t0, Some("eu-west-1"), "failover", "eu-west-1 is down")
                .unwrap();
            store
                .record(t0, None, "start", "control plane started")
                .unwrap();
        }
        let store = Store::open(dir.path(), "shop").unwrap();
        let events = store.events(0, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, "failover");
        assert_eq!(events[0].at, t0);
        assert_eq!(
            store.events(events[0].id, 10).unwrap().len(),
            1,
            "`after` is exclusive"
        );
        assert_eq!(store.events(0, 1).unwrap().len(), 1, "limit applies");
    }

    #[test]
    fn pruning_keeps_recent_events_and_never_moves_ids_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "shop").unwrap();
        let day = Duration::from_secs(86_400);
        let now = UNIX_EPOCH + 1000 * day;
        for age in [200, 100, 50, 10, 1] {
            store.record(now - age * day, None, "probe", "x").unwrap();
        }
        let retention = Retention {
            max_age: 90 * day,
            max_events: 2,
        };
        assert_eq!(store.prune(retention, now).unwrap(), 3);
        let left: Vec<i64> = store.events(0, 10).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(left, [4, 5], "the newest two, within 90 days");
        // Everything old: the newest is still kept, and new ids continue from it.
        assert_eq!(store.prune(retention, now + 1000 * day).unwrap(), 1);
        assert_eq!(store.last_event_id().unwrap(), 5);
        assert_eq!(store.record(now, None, "start", "x").unwrap().id, 6);
    }
}
