//! Storage for the wangzheng platform: one interface, two real back ends —
//! SQLite (embedded default, one file, zero set-up) and PostgreSQL
//! (production, several platform nodes over one database).
//!
//! Both run the same SQL through `sqlx`'s `Any` driver; migrations differ
//! only in type names (`migrations/sqlite`, `migrations/postgres`). The store
//! holds opaque bytes: personal data arrives already sealed (SM4-GCM) by the
//! platform and is looked up through an HMAC-SM3 blind index, so nothing
//! here ever sees a name or an ID number in clear.
//!
//! Rules every method follows: each state change is one transaction; replay
//! and counter checks are one conditional `UPDATE`/`INSERT` whose affected
//! row count is the answer, so concurrent platform nodes stay correct.

mod audit;
mod error;
mod model;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditEntry, AuditNote, AuditReport, GENESIS_HASH};
pub use error::{Result, StoreError};
pub use model::*;
pub use store::{Backend, ConsistencyReport, Store, StoreTx};
