//! Isolated stores for tests: a fresh SQLite file, or a fresh PostgreSQL
//! schema in the database named by `WZ_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Used by this crate's tests and
//! by the platform's; enabled with the `testing` feature.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;

use crate::{Backend, Result, Store};

/// PostgreSQL URL tests connect to.
#[must_use]
pub fn pg_url() -> String {
    std::env::var("WZ_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store that cleans up after itself (the SQLite file goes with its
/// directory; the PostgreSQL schema is dropped by [`TestStore::cleanup`]).
#[derive(Debug)]
pub struct TestStore {
    pub store: Store,
    /// Where it lives: a `sqlite://` or `postgres://` URL.
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh, migrated store on `backend`.
    pub async fn new(backend: Backend) -> Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|_| crate::StoreError::UnsupportedUrl)?;
                let url = format!("sqlite://{}", dir.path().join("wz.db").display());
                let store = Store::connect(&url).await?;
                Ok(Self {
                    store,
                    url,
                    schema: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                static N: AtomicU32 = AtomicU32::new(0);
                let base = pg_url();
                #[allow(clippy::disallowed_methods)] // unique names only, not logic
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros())
                    .unwrap_or(0);
                let schema = format!(
                    "wz_t_{}_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed),
                    stamp
                );
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&base).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                let store = Store::connect(&url).await?;
                Ok(Self {
                    store,
                    url,
                    schema: Some(schema),
                    _dir: None,
                })
            }
        }
    }

    /// Runs SQL on a connection of its own, for tests that tamper with rows
    /// or inject failures (triggers) the API never would.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await?;
        let n = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?
            .rows_affected();
        conn.close().await?;
        Ok(n)
    }

    /// Closes the store and drops its PostgreSQL schema.
    pub async fn cleanup(self) -> Result<()> {
        self.store.close().await;
        if let Some(schema) = self.schema {
            let mut conn = sqlx::AnyConnection::connect(&pg_url()).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
        }
        Ok(())
    }
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::NAME` and
/// `postgres::NAME`, each on a multi-threaded runtime.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::Backend::Postgres).await } )*
        }
    };
}
