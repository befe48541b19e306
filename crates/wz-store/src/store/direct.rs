//! Connections for the verification path's statements, without sqlx's
//! ping on every return to the pool.
//!
//! A pooled connection is tested with a round trip each time it goes back
//! to its pool (a `Sync` for PostgreSQL, a hop to the worker thread for
//! SQLite), in case a dropped future left it mid-statement: every statement
//! through the pool costs two round trips. Here a connection is taken out
//! of its pool once and comes back to the idle list only through
//! [`Direct::finish`], after a statement that completed. A statement that
//! failed or a future dropped halfway closes its connection, and the idle
//! ones with it (the server may be gone); the pool replaces them (for
//! PostgreSQL it tests each one it hands out). The same safety, for one
//! round trip.

use std::sync::Mutex;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{Result, StoreError};

/// Where a statement's connection comes from.
#[derive(Debug)]
pub(super) enum Connections {
    /// The pool itself (SQLite's one writer: every write must queue on it).
    Pooled(AnyPool),
    /// Connections taken out of `source`, at most `permits` at once; each
    /// runs `session` (a setting of its own) once, when taken out.
    Direct {
        source: AnyPool,
        session: Option<&'static str>,
        idle: Mutex<Vec<AnyConnection>>,
        permits: Semaphore,
    },
}

/// A connection in use; give it back with [`Direct::finish`].
#[derive(Debug)]
pub(super) enum Direct<'a> {
    Pooled(PoolConnection<Any>),
    Taken {
        conn: Option<AnyConnection>,
        idle: &'a Mutex<Vec<AnyConnection>>,
        _permit: SemaphorePermit<'a>,
    },
}

impl Connections {
    pub(super) fn direct(source: AnyPool, at_most: usize, session: Option<&'static str>) -> Self {
        Self::Direct {
            source,
            session,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(at_most),
        }
    }

    pub(super) async fn take(&self) -> Result<Direct<'_>> {
        match self {
            Self::Pooled(pool) => Ok(Direct::Pooled(pool.acquire().await?)),
            Self::Direct {
                source,
                session,
                idle,
                permits,
            } => {
                let permit = permits
                    .acquire()
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
                let reused = idle.lock().ok().and_then(|mut list| list.pop());
                let conn = match reused {
                    Some(conn) => conn,
                    None => {
                        // Never goes back to the pool, so its setting stays
                        // with these statements.
                        let mut conn = source.acquire().await?.detach();
                        if let Some(sql) = session {
                            sqlx::query(*sql).execute(&mut conn).await?;
                        }
                        conn
                    }
                };
                Ok(Direct::Taken {
                    conn: Some(conn),
                    idle,
                    _permit: permit,
                })
            }
        }
    }

    /// Closes the idle connections and the pool; no more are handed out.
    pub(super) async fn close(&self) {
        match self {
            Self::Pooled(pool) => pool.close().await,
            Self::Direct {
                source,
                idle,
                permits,
                ..
            } => {
                permits.close();
                let list = idle
                    .lock()
                    .map(|mut list| std::mem::take(&mut *list))
                    .unwrap_or_default();
                for conn in list {
                    let _ = sqlx::Connection::close(conn).await;
                }
                source.close().await;
            }
        }
    }
}

impl Direct<'_> {
    pub(super) fn conn(&mut self) -> Result<&mut AnyConnection> {
        match self {
            Self::Pooled(conn) => Ok(&mut **conn),
            Self::Taken { conn, .. } => conn.as_mut().ok_or(StoreError::Database(sqlx::Error::PoolClosed)),
        }
    }

    /// The statement completed: the connection may serve the next one.
    pub(super) fn finish(mut self) {
        if let Self::Taken { conn, idle, .. } = &mut self
            && let (Some(conn), Ok(mut list)) = (conn.take(), idle.lock())
        {
            list.push(conn);
        }
    }
}

impl Drop for Direct<'_> {
    /// Abandoned after a failure or halfway: the server may be gone (a
    /// failover), so the idle connections go too; the pool tests each
    /// connection it hands out in their place.
    fn drop(&mut self) {
        if let Self::Taken {
            conn: Some(_), idle, ..
        } = self
            && let Ok(mut list) = idle.lock()
        {
            list.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn statement(conn: &mut Direct<'_>) {
        sqlx::query("SELECT 1")
            .execute(conn.conn().unwrap())
            .await
            .unwrap();
    }

    fn idle(set: &Connections) -> usize {
        match set {
            Connections::Direct { idle, .. } => idle.lock().unwrap().len(),
            Connections::Pooled(_) => 0,
        }
    }

    #[tokio::test]
    async fn a_connection_is_reused_only_after_a_completed_statement() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("direct.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        let set = Connections::direct(pool, 2, None);
        let mut first = set.take().await.unwrap();
        statement(&mut first).await;
        first.finish();
        assert_eq!(idle(&set), 1, "finished: kept for the next statement");
        let mut taken = set.take().await.unwrap();
        assert_eq!(idle(&set), 0, "the idle one is handed out again");
        let mut other = set.take().await.unwrap();
        statement(&mut other).await;
        other.finish();
        assert_eq!(idle(&set), 1);
        statement(&mut taken).await;
        drop(taken);
        assert_eq!(idle(&set), 0, "abandoned: closed, and the idle ones with it");
        set.close().await;
        assert!(set.take().await.is_err(), "closed: nothing handed out");
    }
}
