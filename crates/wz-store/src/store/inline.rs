//! SQLite: the verification path's statements run on the calling thread.
//!
//! sqlx gives every SQLite connection a worker thread of its own, so each
//! statement is a message to that thread and a wake-up back: two thread
//! switches, and the profile of `wz bench verify` showed those switches
//! (with the pool's) as a large share of the kernel's third of the CPU.
//! The verification path's statements are short — an indexed read, a
//! one-row insert, microseconds with the pages cached — so here they run
//! where the request runs, on connections of their own.
//!
//! Reads never wait in WAL mode. Writes use a second writer beside sqlx's
//! one, which never waits either: with another writer's transaction open it
//! answers `None` at once (busy timeout 0) and the caller queues the
//! statement on sqlx's writer instead. A statement is one implicit
//! transaction, so it cannot act on a stale snapshot; sqlx's transactions
//! begin `IMMEDIATE` (see `Store::begin_tx`) for the same reason, since
//! another writer may now commit between their reads and their writes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::SQLITE_PRAGMAS;
use crate::{Result, StoreError};

/// Reader connections kept open between statements.
const READERS_KEPT: usize = 4;
/// How long a read waits for a lock (only a WAL recovery or a truncating
/// checkpoint takes one a reader must wait for).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of one SQLite file for the inline statements.
#[derive(Debug)]
pub(super) struct InlineSqlite {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Opened on the first write; `None` again after [`InlineSqlite::close`].
    writer: Mutex<Option<Connection>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Corrupt("inline SQLite connection lock")
}

/// Whether SQLite refused for a lock another connection holds.
fn is_busy(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl InlineSqlite {
    /// For the database file at `path` (already created and migrated).
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        }
    }

    fn open(&self, busy_timeout: Duration) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        for pragma in SQLITE_PRAGMAS {
            conn.execute_batch(pragma)?;
        }
        // After the shared pragmas, which set sqlx's (waiting) timeout.
        conn.busy_timeout(busy_timeout)?;
        Ok(conn)
    }

    /// Runs `read` on a reader connection.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let kept = self.readers.lock().map_err(poisoned)?.pop();
        let conn = match kept {
            Some(conn) => conn,
            None => self.open(READ_BUSY_TIMEOUT)?,
        };
        // A statement here is over when `read` returns: the connection
        // holds nothing half-done and serves the next one.
        let out = read(&conn);
        let mut readers = self.readers.lock().map_err(poisoned)?;
        if readers.len() < READERS_KEPT {
            readers.push(conn);
        }
        out
    }

    /// Runs `write` on the inline writer; `None` (nothing written) when
    /// another connection holds the write lock: queue it elsewhere.
    pub(super) fn try_write<T>(&self, write: impl FnOnce(&Connection) -> Result<T>) -> Result<Option<T>> {
        let mut writer = self.writer.lock().map_err(poisoned)?;
        let conn = match writer.take() {
            Some(conn) => conn,
            None => self.open(Duration::ZERO)?,
        };
        let out = write(&conn);
        *writer = Some(conn);
        match out {
            Err(e) if is_busy(&e) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Closes every connection (new ones would be opened on demand).
    pub(super) fn close(&self) {
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, InlineSqlite) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inline.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        (dir, InlineSqlite::new(path))
    }

    fn insert(inline: &InlineSqlite, k: i64) -> Result<Option<usize>> {
        inline.try_write(|c| Ok(c.execute("INSERT INTO t (k) VALUES (?1)", [k])?))
    }

    #[test]
    fn a_write_never_waits_for_another_writer_and_writes_nothing_then() {
        let (_dir, inline) = database();
        assert_eq!(insert(&inline, 1).unwrap(), Some(1));
        // Another writer (as sqlx's would) holds the write lock.
        let other = Connection::open(&inline.path).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t (k) VALUES (2)")
            .unwrap();
        assert_eq!(
            insert(&inline, 3).unwrap(),
            None,
            "busy: handed back, not waited for"
        );
        // Reads go on beside the open write transaction (WAL).
        let n: i64 = inline
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1, "only what was committed");
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(insert(&inline, 3).unwrap(), Some(1));
        let keys: Vec<i64> = inline
            .read(|c| {
                let mut stmt = c.prepare("SELECT k FROM t ORDER BY k")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(keys, [1, 2, 3], "the refused write left nothing behind");
        // Other errors are errors, not "busy".
        assert!(insert(&inline, 3).is_err(), "a duplicate key is refused");
    }
}
