//! Platform keys as stored (wrapped), rotation and retirement.

use sqlx::Row;

use crate::audit::AuditNote;
use crate::model::PlatformKeyRow;
use crate::{Result, StoreError};

use super::*;

impl Store {
    /// Stores a platform key (wrapped) with its `platform_key.create` audit entry.
    pub async fn insert_platform_key(&self, k: &PlatformKeyRow, actor: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::insert_platform_key_in(&mut tx, k).await?;
        let note = AuditNote::new(
            actor,
            "platform_key.create",
            format!("usage={} key={} status={}", k.usage, k.key_id, k.status),
        );
        tx.audit(&note, k.created_at).await?;
        tx.commit().await
    }

    pub(super) async fn insert_platform_key_in(tx: &mut StoreTx, k: &PlatformKeyRow) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO platform_keys (key_id, usage, wrapped, public_key, status, created_at, retire_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(k.key_id.clone())
        .bind(k.usage.clone())
        .bind(k.wrapped.clone())
        .bind(k.public_key.clone())
        .bind(k.status.clone())
        .bind(ts(k.created_at))
        .bind(k.retire_at.map(ts))
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict("platform key id"));
        }
        Ok(())
    }

    /// Stores `new_key` as the current key of its usage; the previous
    /// current key drains until `retire_at`. One transaction with its
    /// `platform_key.rotate` audit entry by `actor`.
    pub async fn rotate_platform_key(
        &self,
        new_key: &PlatformKeyRow,
        retire_at: u64,
        actor: &str,
    ) -> Result<()> {
        let (usage, new_key_id) = (new_key.usage.as_str(), new_key.key_id.as_str());
        let mut tx = self.begin().await?;
        Self::insert_platform_key_in(&mut tx, new_key).await?;
        sqlx::query("UPDATE platform_keys SET status = 'draining', retire_at = $1 WHERE usage = $2 AND status = 'current' AND key_id <> $3")
            .bind(ts(retire_at))
            .bind(usage)
            .bind(new_key_id)
            .execute(tx.conn())
            .await?;
        let res = sqlx::query("UPDATE platform_keys SET status = 'current' WHERE key_id = $1 AND usage = $2")
            .bind(new_key_id)
            .bind(usage)
            .execute(tx.conn())
            .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::NotFound("platform key"));
        }
        let note = AuditNote::new(
            actor,
            "platform_key.rotate",
            format!("usage={usage} key={new_key_id}"),
        );
        tx.audit(&note, new_key.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks draining keys past their window as retired.
    pub async fn retire_drained_platform_keys(&self, now: u64) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE platform_keys SET status = 'retired' WHERE status = 'draining' AND retire_at <= $1",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }

    /// Every platform key that is not retired.
    pub async fn live_platform_keys(&self) -> Result<Vec<PlatformKeyRow>> {
        let rows = sqlx::query(
            "SELECT key_id, usage, wrapped, public_key, status, created_at, retire_at
             FROM platform_keys WHERE status <> 'retired' ORDER BY created_at, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PlatformKeyRow {
                    key_id: row.try_get("key_id")?,
                    usage: row.try_get("usage")?,
                    wrapped: row.try_get("wrapped")?,
                    public_key: row.try_get("public_key")?,
                    status: row.try_get("status")?,
                    created_at: uts(row.try_get("created_at")?),
                    retire_at: row.try_get::<Option<i64>, _>("retire_at")?.map(uts),
                })
            })
            .collect()
    }
}
