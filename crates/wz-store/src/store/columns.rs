//! Reading a row's columns by name, the same for a row sqlx returned and
//! one the inline SQLite path (`inline`) read, so each table's row
//! mapping is written once.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StoreError};

/// A value a column holds, readable from either kind of row.
pub(super) trait ColumnValue:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> ColumnValue for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

/// A result row whose columns are read by name.
pub(super) trait Columns {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T>;
}

impl Columns for AnyRow {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: ColumnValue>(&self, name: &str) -> Result<T> {
        self.get(name).map_err(StoreError::from)
    }
}
