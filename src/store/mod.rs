//! The SQLite file a running deployment keeps across restarts and crashes: the file
//! itself, its lock, its schema, and the event log every part writes (`events`).
//!
//! One file per deployment, under `<state_dir>/<deployment>/`; the file records the
//! deployment it belongs to and is refused for any other. A zero-length or foreign file
//! is an error, never a silent new history.
//!
//! The rows of the other tables belong to the parts that keep them: the control plane's
//! switches and intents (`control::store`), cost's alert outbox (`cost::outbox`), each
//! read and written through `Store::with_conn` / `Store::with_reader`. Their tables are
//! still created and migrated here, when the file opens: one file has one schema, so
//! every opener (`serve`, `status`) finds the same tables whatever it goes on to read.
//! Beyond their columns, nothing here knows what a switch or an alert is.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

mod events;

pub use events::Event;

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

/// A time as the store keeps it: milliseconds since the Unix epoch.
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// A time the store kept, back from its milliseconds (before the epoch reads as it).
pub fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A stored time as the API shows it: RFC 3339, to the millisecond.
pub fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

/// `PRAGMA application_id` of a geoplan store: "geop".
const APPLICATION_ID: i64 = 0x6765_6f70;
/// The store's file inside its directory.
pub const FILE_NAME: &str = "geoplan.sqlite3";

pub struct Store {
    path: PathBuf,
    /// Std mutexes, not tokio's: every statement is short and none is held across an
    /// await. Two connections: in WAL mode a reader never blocks the writer, so the
    /// API's scans of the event log never hold up the controller's writes.
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
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
/// The error of a statement on the store at `path` (a file SQLite does not take is
/// foreign).
fn sql_error(path: PathBuf) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::Foreign { path: path.clone() },
        _ => StoreError::Sql {
            path: path.clone(),
            source,
        },
    }
}

/// Refuses a store that another deployment's control plane wrote.
fn check_deployment(conn: &Connection, path: &Path, deployment: &str) -> Result<(), StoreError> {
    let found: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'deployment'", [], |r| {
            r.get(0)
        })
        .map_err(sql_error(path.to_owned()))?;
    if found != deployment {
        return Err(StoreError::OtherDeployment {
            path: path.to_owned(),
            found,
            expected: deployment.to_owned(),
        });
    }
    Ok(())
}

pub fn dir_of(state_dir: &Path, deployment: &str) -> PathBuf {
    state_dir.join(deployment)
}

impl Store {
    /// Whether a store exists in `dir` (for readers that must not create one).
    pub fn exists(dir: &Path) -> bool {
        dir.join(FILE_NAME).exists()
    }

    /// Opens the store of `deployment` in `dir` for reading only (`geoplan status
    /// CONFIG`): nothing is created, migrated or stamped; a store that is not geoplan's,
    /// or is another deployment's, is refused.
    pub fn open_read_only(dir: &Path, deployment: &str) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        let sql = sql_error(path.clone());
        let open = || {
            Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(&sql)
        };
        let conn = open()?;
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(&sql)?;
        if app_id != APPLICATION_ID {
            return Err(StoreError::Foreign { path });
        }
        check_deployment(&conn, &path, deployment)?;
        let reader = open()?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
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
        let sql = sql_error(path.clone());
        let conn = Connection::open(&path).map_err(&sql)?;
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(&sql)?;
        if existed && app_id != APPLICATION_ID {
            // Stores written before the id was set have the events table; anything
            // else is some other SQLite file.
            let ours: bool = conn
                .query_row(
                    "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
                    [],
                    |r| r.get(0),
                )
                .map_err(&sql)?;
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
        .map_err(&sql)?;
        // Columns added since the first release; older stores gain them here.
        add_column(&conn, "events", "took_ms", "INTEGER").map_err(&sql)?;
        add_column(&conn, "intents", "base_version", "INTEGER").map_err(&sql)?;
        // The alert outbox. Alerts of older stores were sent (or given up) when raised:
        // they count as delivered, never as pending.
        if add_column(&conn, "alerts", "payload", "TEXT").map_err(&sql)? {
            for (column, decl) in [
                ("dedup_key", "TEXT"),
                ("delivered_ms", "INTEGER"),
                ("attempts", "INTEGER NOT NULL DEFAULT 0"),
                ("next_ms", "INTEGER"),
                ("last_error", "TEXT"),
            ] {
                add_column(&conn, "alerts", column, decl).map_err(&sql)?;
            }
            conn.execute("UPDATE alerts SET delivered_ms = at_ms", [])
                .map_err(&sql)?;
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(&sql)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('deployment', ?1)",
            params![deployment],
        )
        .map_err(&sql)?;
        check_deployment(&conn, &path, deployment)?;
        let reader = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&sql)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    /// Runs `f` on the read-write connection, the one every write goes through; an
    /// SQLite error comes back naming the file.
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn()).map_err(|e| self.err(e))
    }

    /// Runs `f` on the read-only connection, for scans that must not hold up writes.
    pub fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.reader()).map_err(|e| self.err(e))
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
