//! The store: connection, migrations and transactions here; the queries
//! by aggregate in the submodules.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};
use wz_proto::api::Attribute;
use wz_proto::{AuthMode, CredentialId};

use crate::audit::{AuditEntry, AuditNote, GENESIS_HASH, entry_hash};
use crate::{Result, StoreError};

use columns::Columns;
pub use consistency::ConsistencyReport;
use direct::Connections;
use inline::InlineSqlite;

macro_rules! registry_select {
    () => {
        "SELECT citizen_id, id_index, pii, photo, face_template, template_model, data_key_id, created_at FROM registry"
    };
}

/// One optional row of the verification path: on a SQLite file, read on
/// the calling thread (see [`inline`]), else on a direct connection (see
/// [`direct`]). `$map` turns the row into the result, the same function
/// for both kinds of row (see [`columns`]).
macro_rules! hot_read_one {
    ($store:expr, $sql:expr, $map:expr, [$($name:literal => $value:expr),+ $(,)?]) => {{
        if let Some(inline) = &$store.inline {
            inline.read(|c| {
                let mut stmt = c.prepare_cached($sql)?;
                let mut rows = stmt.query(rusqlite::named_params! {$($name: $value),+})?;
                rows.next()?.map($map).transpose()
            })
        } else {
            let mut conn = $store.hot_reads.take().await?;
            let row = sqlx::query($sql)$(.bind($value))+.fetch_optional(conn.conn()?).await?;
            conn.finish();
            row.as_ref().map($map).transpose()
        }
    }};
}

mod audit_log;
mod challenges;
mod columns;
mod consistency;
mod credentials;
mod direct;
mod inline;
mod pins;
mod platform_keys;
mod registry;
mod relying_parties;
mod verifications;

/// Which database is underneath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "challenge expiry",
        include_str!("../../migrations/sqlite/0002_challenge_expiry.sql"),
    ),
    (
        3,
        "attempt budgets",
        include_str!("../../migrations/sqlite/0003_attempt_budgets.sql"),
    ),
    (
        4,
        "nonce request hash",
        include_str!("../../migrations/sqlite/0004_nonce_request_hash.sql"),
    ),
    (
        5,
        "verdict accepts counter",
        include_str!("../../migrations/sqlite/0005_verdict_accepts_counter.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "challenge expiry",
        include_str!("../../migrations/postgres/0002_challenge_expiry.sql"),
    ),
    (
        3,
        "attempt budgets",
        include_str!("../../migrations/postgres/0003_attempt_budgets.sql"),
    ),
    (
        4,
        "nonce request hash",
        include_str!("../../migrations/postgres/0004_nonce_request_hash.sql"),
    ),
    (
        5,
        "verdict accepts counter",
        include_str!("../../migrations/postgres/0005_verdict_accepts_counter.sql"),
    ),
];

/// The platform's storage. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// The verification path's reads. PostgreSQL: connections taken from
    /// the pool, without a ping per statement (see [`direct`]). SQLite:
    /// the pool, for when `inline` is not there (an in-memory database).
    hot_reads: Arc<Connections>,
    /// The verification path's writes: PostgreSQL, the same connections as
    /// `hot_reads`; SQLite, sqlx's one writer (the pool), which takes the
    /// writes `inline` hands back.
    hot_writes: Arc<Connections>,
    /// Request nonces. PostgreSQL: connections whose commits do not wait
    /// for the WAL to reach the disk (see [`Store::claim_request_nonce`]);
    /// SQLite: the same as `hot_writes`.
    nonce_writes: Arc<Connections>,
    /// SQLite on a file: the verification path's statements on the calling
    /// thread (see [`inline`]).
    inline: Option<Arc<InlineSqlite>>,
    /// SQLite: the connection that copies the WAL into the database file
    /// in the background (see [`Store::spawn_checkpointer`]).
    checkpoints: Option<Arc<AnyPool>>,
    backend: Backend,
}

/// One open database transaction. An audited change writes its rows and its
/// audit entry through the same handle, so both commit or neither does (a
/// crash, an error or a dropped handle between the two writes rolls back).
#[derive(Debug)]
pub struct StoreTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

/// What every SQLite connection is set to, sqlx's and the inline ones.
const SQLITE_PRAGMAS: [&str; 6] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    // The WAL file shrinks back to this after a reset.
    "PRAGMA journal_size_limit = 67108864",
    // Only writers commit, so only they would checkpoint: a backstop for
    // when the background checkpointer falls behind (see `connect`).
    "PRAGMA wal_autocheckpoint = 20000",
];
/// PostgreSQL connections of the pool, and at most as many more taken out
/// of it for the verification path (see [`Store::hot_reads`]).
const POSTGRES_POOL: u32 = 16;
/// PostgreSQL connections for request nonces, beside those.
const POSTGRES_NONCE_CONNECTIONS: usize = 8;
/// How often the background checkpointer runs.
const SQLITE_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Key of the PostgreSQL advisory lock that orders audit appends across
/// platform nodes; held only from the audit insert to the commit.
const AUDIT_LOCK_KEY: i64 = 0x0077_7a61_7564_6974;

impl StoreTx {
    /// Appends `note` to the hash-chained audit log inside this transaction.
    pub async fn audit(&mut self, note: &AuditNote, now: u64) -> Result<AuditEntry> {
        if self.backend == Backend::Postgres {
            // Serialises chain heads between nodes: the lock is released at
            // commit or rollback, so the next appender reads this entry.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_LOCK_KEY)
                .execute(&mut *self.tx)
                .await?;
        }
        let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *self.tx)
            .await?;
        let (prev_seq, prev_hash) = match last {
            Some(r) => {
                let h: Vec<u8> = r.try_get("hash")?;
                (
                    uts(r.try_get("seq")?),
                    h.try_into().map_err(|_| StoreError::Corrupt("audit hash"))?,
                )
            }
            None => (0, GENESIS_HASH),
        };
        let seq = prev_seq + 1;
        let hash = entry_hash(&prev_hash, seq, now, &note.actor, &note.action, &note.detail);
        sqlx::query(
            "INSERT INTO audit_log (seq, time, actor, action, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ts(seq))
        .bind(ts(now))
        .bind(note.actor.clone())
        .bind(note.action.clone())
        .bind(note.detail.clone())
        .bind(prev_hash.to_vec())
        .bind(hash.to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(AuditEntry {
            seq,
            time: now,
            actor: note.actor.clone(),
            action: note.action.clone(),
            detail: note.detail.clone(),
            prev_hash,
            hash,
        })
    }

    /// Commits every write made through this handle.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

fn ts(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uts(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn cred_id_from(bytes: &[u8]) -> Result<CredentialId> {
    bytes
        .try_into()
        .map(CredentialId)
        .map_err(|_| StoreError::Corrupt("credential id"))
}

fn join_modes(modes: &[AuthMode]) -> String {
    modes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn join_attrs(attrs: &[Attribute]) -> String {
    attrs.iter().map(|a| a.name()).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Connects and brings the schema up to date. URLs:
    /// `sqlite://PATH` (the file is created if missing) or
    /// `postgres://USER@HOST:PORT/DB` (add `?options=-c%20search_path%3DSCHEMA` for a schema).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let (pool, hot_reads, hot_writes, nonce_writes, checkpoints) = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                // SQLite has one writer at a time; one connection turns what
                // would be SQLITE_BUSY upgrade failures into a plain queue.
                // Checkpoints are the background task's job, so that no
                // commit waits for one (a checkpoint copies pages and syncs
                // the file: milliseconds, with every other writer queued).
                let writer = Self::sqlite_pool(1).connect(&url).await?;
                let checkpoints = Arc::new(Self::sqlite_pool(1).connect(&url).await?);
                Self::spawn_checkpointer(Arc::downgrade(&checkpoints));
                let hot = Arc::new(Connections::Pooled(writer.clone()));
                (writer, Arc::clone(&hot), Arc::clone(&hot), hot, Some(checkpoints))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_POOL)
                    .connect(url)
                    .await?;
                let hot = Arc::new(Connections::direct(pool.clone(), POSTGRES_POOL as usize, None));
                let nonces = Arc::new(Connections::direct(
                    pool.clone(),
                    POSTGRES_NONCE_CONNECTIONS,
                    Some("SET synchronous_commit = off"),
                ));
                (pool, Arc::clone(&hot), hot, nonces, None)
            }
        };
        let mut store = Self {
            pool,
            hot_reads,
            hot_writes,
            nonce_writes,
            inline: None,
            checkpoints,
            backend,
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            // The file the pool opened, as SQLite resolved it; empty for an
            // in-memory database, which other connections cannot open.
            let file: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&store.pool)
                .await?
                .try_get("file")?;
            if !file.is_empty() {
                store.inline = Some(Arc::new(InlineSqlite::new(file.into())));
            }
        }
        Ok(store)
    }

    /// SQLite connections with the pragmas every connection needs.
    fn sqlite_pool(max: u32) -> AnyPoolOptions {
        AnyPoolOptions::new()
            .max_connections(max)
            // A checkout's `SELECT 1` is a thread hop of its own for SQLite.
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in SQLITE_PRAGMAS {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
    }

    /// Copies the WAL into the database file every
    /// [`SQLITE_CHECKPOINT_EVERY`], beside the writer (a passive checkpoint
    /// never blocks it), until every handle on the store is gone or closed.
    fn spawn_checkpointer(pool: Weak<AnyPool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SQLITE_CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { break };
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&*pool)
                    .await
                    && !pool.is_closed()
                {
                    tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
                }
            }
        });
    }

    async fn migrate(&self) -> Result<()> {
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = list
            .iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*d),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect::<Vec<_>>();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The database underneath.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.close().await;
        }
        if let Some(inline) = &self.inline {
            inline.close();
        }
        self.hot_reads.close().await;
        self.hot_writes.close().await;
        self.nonce_writes.close().await;
        self.pool.close().await;
    }

    /// Opens a transaction (see [`StoreTx`]).
    pub async fn begin(&self) -> Result<StoreTx> {
        Ok(StoreTx {
            tx: self.begin_tx().await?,
            backend: self.backend,
        })
    }

    /// SQLite's transactions take the write lock as they begin: another
    /// writer (see [`inline`]) could otherwise commit between a
    /// transaction's first read and its first write, which SQLite then
    /// refuses (`SQLITE_BUSY_SNAPSHOT`) instead of waiting.
    async fn begin_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}
