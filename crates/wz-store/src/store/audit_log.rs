//! The hash-chained audit log: appending outside a change, reading, checking.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, AuditReport, check_chain};
use crate::{Result, StoreError};

use super::*;

impl Store {
    /// Appends an audit entry on its own (for events that change nothing
    /// else). Appenders on several nodes are ordered by the chain lock.
    #[cfg(feature = "testing")]
    pub async fn append_audit(&self, note: &crate::audit::AuditNote, now: u64) -> Result<AuditEntry> {
        let mut tx = self.begin().await?;
        let entry = tx.audit(note, now).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// All audit entries in order.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, time, actor, action, detail, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Self::audit_from_rows(&rows)
    }

    /// At most `limit` entries before `before_seq` (all when `None`),
    /// newest first: one page of the operator console's log.
    pub async fn audit_page(&self, before_seq: Option<u64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let before = before_seq.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT seq, time, actor, action, detail, prev_hash, hash FROM audit_log
             WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Self::audit_from_rows(&rows)
    }

    fn audit_from_rows(rows: &[AnyRow]) -> Result<Vec<AuditEntry>> {
        rows.iter()
            .map(|r| {
                let prev: Vec<u8> = r.try_get("prev_hash")?;
                let hash: Vec<u8> = r.try_get("hash")?;
                Ok(AuditEntry {
                    seq: uts(r.try_get("seq")?),
                    time: uts(r.try_get("time")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    detail: r.try_get("detail")?,
                    prev_hash: prev.try_into().map_err(|_| StoreError::Corrupt("audit hash"))?,
                    hash: hash.try_into().map_err(|_| StoreError::Corrupt("audit hash"))?,
                })
            })
            .collect()
    }

    /// Checks the whole audit chain.
    pub async fn verify_audit(&self) -> Result<AuditReport> {
        Ok(check_chain(&self.audit_entries().await?))
    }
}
