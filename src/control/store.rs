//! The control plane's memory across restarts and crashes: an SQLite file under the
//! state directory holding the event log and each switch's cause (Route 53 knows only
//! whether a switch is inverted, not who inverted it or why).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::control::failover::{Cause, Switch};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state directory {}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("event store {} failed", path.display())]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: i64,
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    pub region: Option<String>,
    pub kind: String,
    pub message: String,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

/// A switch's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSwitch {
    pub switch: Switch,
    pub last_action: Option<SystemTime>,
}

pub struct Store {
    path: PathBuf,
    /// A std mutex, not tokio's: every statement is short and none is held across an
    /// await, and SQLite serialises writers anyway.
    conn: Mutex<Connection>,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("geoplan.sqlite3");
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        // WAL + synchronous=NORMAL: a committed event survives a crash of geoplan (the
        // WAL is written before commit returns); only an OS crash can lose the tail.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 at_ms INTEGER NOT NULL,
                 region TEXT,
                 kind TEXT NOT NULL,
                 message TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS alerts (
                 month TEXT NOT NULL,
                 threshold REAL NOT NULL,
                 at_ms INTEGER NOT NULL,
                 PRIMARY KEY (month, threshold)
             );
             CREATE TABLE IF NOT EXISTS switches (
                 region TEXT PRIMARY KEY,
                 in_service INTEGER NOT NULL,
                 cause TEXT,
                 reason TEXT,
                 since_ms INTEGER,
                 last_action_ms INTEGER
             );",
        )
        .map_err(sql)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements
        // are atomic), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(
        &self,
        at: SystemTime,
        region: Option<&str>,
        kind: &str,
        message: &str,
    ) -> Result<Event, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO events (at_ms, region, kind, message) VALUES (?1, ?2, ?3, ?4)",
            params![millis(at), region, kind, message],
        )
        .map_err(|e| self.err(e))?;
        Ok(Event {
            id: conn.last_insert_rowid(),
            at: time(millis(at)),
            region: region.map(str::to_owned),
            kind: kind.into(),
            message: message.into(),
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

    fn query_events(
        &self,
        condition: &str,
        bound: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT id, at_ms, region, kind, message FROM events WHERE {condition} ORDER BY id LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![bound, limit], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    at: time(r.get(1)?),
                    region: r.get(2)?,
                    kind: r.get(3)?,
                    message: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Claims the alert for `threshold` in `month`: true the first time only, across
    /// restarts, so each threshold alerts once a month.
    pub fn claim_alert(
        &self,
        month: &str,
        threshold: f64,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO alerts (month, threshold, at_ms) VALUES (?1, ?2, ?3)",
                params![month, threshold, millis(at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    pub fn save_switch(&self, region: &str, s: &StoredSwitch) -> Result<(), StoreError> {
        self.conn()
            .execute(
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
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn load_switch(&self, region: &str) -> Result<Option<StoredSwitch>, StoreError> {
        let conn = self.conn();
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
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_switches_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .record(t0, Some("eu-west-1"), "failover", "eu-west-1 is down")
                .unwrap();
            store
                .record(t0, None, "start", "control plane started")
                .unwrap();
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
        let store = Store::open(dir.path()).unwrap();
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
        let s = store.load_switch("eu-west-1").unwrap().unwrap();
        assert_eq!(s.switch.cause, Some(Cause::Manual));
        assert_eq!(s.switch.reason.as_deref(), Some("maintenance"));
        assert!(store.load_switch("us-east-1").unwrap().is_none());
        assert!(store.claim_alert("2026-11", 0.5, t0).unwrap());
        assert!(
            !store.claim_alert("2026-11", 0.5, t0).unwrap(),
            "once a month"
        );
        assert!(store.claim_alert("2026-12", 0.5, t0).unwrap());
    }
}
