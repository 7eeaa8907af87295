//! The control plane's memory across restarts and crashes: an SQLite file holding the
//! event log, each switch's cause (Route 53 knows only whether a switch is inverted,
//! not who inverted it or why), write-ahead intents of flips in flight, and claimed
//! cost alerts.
//!
//! One file per deployment, under `<state_dir>/<deployment>/`; the file records the
//! deployment it belongs to and is refused for any other. A zero-length or foreign file
//! is an error, never a silent new history.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::config::EventRetention as Retention;
use crate::control::failover::{Cause, Switch};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state directory {}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another geoplan serve (pid {pid}) is running on the state directory {}; two would both act",
        dir.display()
    )]
    Locked { dir: PathBuf, pid: String },
    #[error("cannot lock the state directory {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "event store {} is empty (0 bytes): its history is lost or it was truncated; move it aside to start a new history, or restore it from a backup",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "{} is not a geoplan event store; move it aside to start a new history",
        path.display()
    )]
    Foreign { path: PathBuf },
    #[error(
        "event store {} belongs to deployment {found:?}, not {expected:?}; set monitor.state_dir apart for each deployment",
        path.display()
    )]
    OtherDeployment {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("event store {} failed", path.display())]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

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

/// Adds a column unless the table has it; true when it was added.
fn add_column(conn: &Connection, table: &str, column: &str, decl: &str) -> rusqlite::Result<bool> {
    let has: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
        params![column],
        |r| r.get(0),
    )?;
    if has == 0 {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(has == 0)
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
    /// How long what the event reports took, when measured (flips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
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

/// `PRAGMA application_id` of a geoplan store: "geop".
const APPLICATION_ID: i64 = 0x6765_6f70;
const FILE_NAME: &str = "geoplan.sqlite3";

pub struct Store {
    path: PathBuf,
    /// Std mutexes, not tokio's: every statement is short and none is held across an
    /// await. Two connections: in WAL mode a reader never blocks the writer, so the
    /// API's scans of the event log never hold up the controller's writes.
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// An exclusive hold on a store directory for as long as it lives: one acting control
/// plane per store. The OS releases it when the process dies, however it dies.
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

/// Takes the store directory's lock, or says which process holds it.
pub fn lock_dir(dir: &Path) -> Result<DirLock, StoreError> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join("serve.lock");
    let io = |source| StoreError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(StoreError::Locked {
                dir: dir.to_owned(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid.to_owned()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DirLock { _file: file })
}

/// The directory of one deployment's store under the configured state directory.
pub fn dir_of(state_dir: &Path, deployment: &str) -> PathBuf {
    state_dir.join(deployment)
}

impl Store {
    /// Whether a store exists in `dir` (for readers that must not create one).
    pub fn exists(dir: &Path) -> bool {
        dir.join(FILE_NAME).exists()
    }

    /// Opens (or creates) the store of `deployment` in `dir`.
    pub fn open(dir: &Path, deployment: &str) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let existed = match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => return Err(StoreError::Foreign { path }),
            Ok(m) if m.len() == 0 => return Err(StoreError::Empty { path }),
            Ok(_) => true,
            Err(_) => false,
        };
        let sql = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreError::Foreign { path: path.clone() },
            _ => StoreError::Sql {
                path: path.clone(),
                source,
            },
        };
        let conn = Connection::open(&path).map_err(sql)?;
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(sql)?;
        if existed && app_id != APPLICATION_ID {
            // Stores written before the id was set have the events table; anything
            // else is some other SQLite file.
            let ours: bool = conn
                .query_row(
                    "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            if !ours || app_id != 0 {
                return Err(StoreError::Foreign { path });
            }
        }
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
                 message TEXT NOT NULL,
                 took_ms INTEGER
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
             );
             CREATE TABLE IF NOT EXISTS intents (
                 region TEXT PRIMARY KEY,
                 in_service INTEGER NOT NULL,
                 cause TEXT,
                 reason TEXT,
                 at_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS meta (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS events_at ON events (at_ms);",
        )
        .map_err(sql)?;
        // Columns added since the first release; older stores gain them here.
        add_column(&conn, "events", "took_ms", "INTEGER").map_err(sql)?;
        add_column(&conn, "intents", "base_version", "INTEGER").map_err(sql)?;
        // The alert outbox. Alerts of older stores were sent (or given up) when raised:
        // they count as delivered, never as pending.
        if add_column(&conn, "alerts", "payload", "TEXT").map_err(sql)? {
            for (column, decl) in [
                ("dedup_key", "TEXT"),
                ("delivered_ms", "INTEGER"),
                ("attempts", "INTEGER NOT NULL DEFAULT 0"),
                ("next_ms", "INTEGER"),
                ("last_error", "TEXT"),
            ] {
                add_column(&conn, "alerts", column, decl).map_err(sql)?;
            }
            conn.execute("UPDATE alerts SET delivered_ms = at_ms", [])
                .map_err(sql)?;
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('deployment', ?1)",
            params![deployment],
        )
        .map_err(sql)?;
        let found: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'deployment'", [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if found != deployment {
            return Err(StoreError::OtherDeployment {
                path,
                found,
                expected: deployment.to_owned(),
            });
        }
        let reader = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
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

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

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
        let conn = self.conn();
        conn.execute(
            "INSERT INTO events (at_ms, region, kind, message, took_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![millis(at), region, kind, message, took_ms],
        )
        .map_err(|e| self.err(e))?;
        Ok(Event {
            id: conn.last_insert_rowid(),
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
        let conn = self.reader();
        let sql = format!(
            "SELECT id, at_ms, region, kind, message, took_ms FROM events WHERE {condition} ORDER BY id LIMIT ?2"
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
                    took_ms: r.get::<_, Option<i64>>(5)?.map(|t| t.max(0) as u64),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Raises the alert for `threshold` in `month`: true the first time only, across
    /// restarts, so each threshold alerts once a month. With a `payload` it joins the
    /// outbox, due at once, until `alert_delivered`; without one there is nowhere to
    /// send it.
    pub fn raise_alert(
        &self,
        month: &str,
        threshold: f64,
        dedup_key: &str,
        payload: Option<&str>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO alerts (month, threshold, at_ms, dedup_key, payload, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?3)",
                params![month, threshold, millis(at), dedup_key, payload],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Undelivered alerts whose next attempt is due at `now`, oldest first.
    pub fn due_alerts(&self, now: SystemTime) -> Result<Vec<Alert>, StoreError> {
        self.query_alerts(
            "payload IS NOT NULL AND delivered_ms IS NULL AND next_ms <= ?1 ORDER BY at_ms, threshold",
            millis(now),
        )
    }

    /// The alerts of the newest months, newest first (for `/v1/cost`).
    pub fn recent_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.query_alerts("?1 = ?1 ORDER BY at_ms DESC LIMIT 50", 0)
    }

    fn query_alerts(&self, condition: &str, bound: i64) -> Result<Vec<Alert>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT month, threshold, at_ms, dedup_key, payload, delivered_ms, attempts, next_ms, last_error
             FROM alerts WHERE {condition}"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![bound], |r| {
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
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records one delivery attempt: delivered, or failed with the time of the next.
    pub fn alert_attempt(
        &self,
        month: &str,
        threshold: f64,
        outcome: Result<SystemTime, (&str, SystemTime)>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        match outcome {
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
        }
        .map_err(|e| self.err(e))?;
        Ok(())
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

    /// Records a flip about to be made; replaced by the next one for the region.
    pub fn save_intent(&self, region: &str, intent: &Intent) -> Result<(), StoreError> {
        self.conn()
            .execute(
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
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn load_intent(&self, region: &str) -> Result<Option<Intent>, StoreError> {
        self.conn()
            .query_row(
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
            .map_err(|e| self.err(e))
    }

    pub fn clear_intent(&self, region: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM intents WHERE region = ?1", params![region])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes events older than `max_age` before `now`, then the oldest beyond
    /// `max_events`; returns how many went. The newest event is always kept, so
    /// event ids (the API's cursor) never go backwards.
    pub fn prune(&self, retention: Retention, now: SystemTime) -> Result<u64, StoreError> {
        let cutoff = millis(now).saturating_sub(retention.max_age.as_millis() as i64);
        let conn = self.conn();
        let by_age = conn
            .execute(
                "DELETE FROM events WHERE at_ms < ?1 AND id < (SELECT max(id) FROM events)",
                params![cutoff],
            )
            .map_err(|e| self.err(e))?;
        let by_count = conn
            .execute(
                "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1",
                params![i64::from(retention.max_events.max(1))],
            )
            .map_err(|e| self.err(e))?;
        Ok((by_age + by_count) as u64)
    }

    /// The newest event id, 0 when there is none.
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        // AUTOINCREMENT keeps ids growing even after the newest rows were deleted.
        self.reader()
            .query_row(
                "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
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
    fn events_and_switches_survive_reopening() {
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

    #[test]
    fn a_store_is_refused_when_empty_foreign_or_another_deployments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(
            Store::open(dir.path(), "shop"),
            Err(StoreError::Empty { .. })
        ));
        std::fs::write(&file, b"not a database at all, but long enough to look like one......................................................................").unwrap();
        assert!(matches!(
            Store::open(dir.path(), "shop"),
            Err(StoreError::Foreign { .. })
        ));
        std::fs::remove_file(&file).unwrap();
        Connection::open(&file)
            .unwrap()
            .execute_batch("CREATE TABLE orders (id INTEGER)")
            .unwrap();
        assert!(matches!(
            Store::open(dir.path(), "shop"),
            Err(StoreError::Foreign { .. })
        ));
        std::fs::remove_file(&file).unwrap();
        drop(Store::open(dir.path(), "shop").unwrap());
        let err = Store::open(dir.path(), "blog").err().unwrap();
        assert!(
            err.to_string()
                .contains("belongs to deployment \"shop\", not \"blog\""),
            "{err}"
        );
        assert!(Store::open(dir.path(), "shop").is_ok());
    }

    #[test]
    fn a_store_written_before_scoping_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, region TEXT, kind TEXT NOT NULL, message TEXT NOT NULL);
             INSERT INTO events (at_ms, region, kind, message) VALUES (1, NULL, 'start', 'old');",
        )
        .unwrap();
        drop(conn);
        let store = Store::open(dir.path(), "shop").unwrap();
        assert_eq!(store.events(0, 10).unwrap()[0].message, "old");
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

    #[test]
    fn one_holder_of_a_store_directory_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_dir(dir.path()).unwrap();
        let err = lock_dir(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("(pid {})", std::process::id())),
            "names the holder: {err}"
        );
        drop(held);
        assert!(lock_dir(dir.path()).is_ok(), "released when dropped");
    }
}
