//! Credential PINs: hash, failure count and lock, reserved atomically.

use sqlx::Row;

use crate::audit::AuditNote;
use crate::model::PinState;
use crate::{Result, StoreError};

use super::*;

impl Store {
    /// Sets (or replaces) a citizen's PIN hash and clears the lockout.
    pub async fn set_pin(&self, citizen_id: i64, pin_hash: &str, audit: &AuditNote, now: u64) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::set_pin_in(&mut tx, citizen_id, pin_hash, now).await?;
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn set_pin_in(
        tx: &mut StoreTx,
        citizen_id: i64,
        pin_hash: &str,
        now: u64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO credential_pins (citizen_id, pin_hash, failed_count, locked_until, updated_at)
             VALUES ($1, $2, 0, 0, $3)
             ON CONFLICT (citizen_id) DO UPDATE SET pin_hash = $2, failed_count = 0, locked_until = 0, updated_at = $3",
        )
        .bind(citizen_id)
        .bind(pin_hash)
        .bind(ts(now))
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// A citizen's PIN state.
    #[cfg(feature = "testing")]
    pub async fn pin_state(&self, citizen_id: i64) -> Result<Option<PinState>> {
        let row = sqlx::query("SELECT citizen_id, pin_hash, failed_count, locked_until FROM credential_pins WHERE citizen_id = $1")
            .bind(citizen_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PinState {
            citizen_id: row.try_get("citizen_id")?,
            pin_hash: row.try_get("pin_hash")?,
            failed_count: u32::try_from(row.try_get::<i64, _>("failed_count")?).unwrap_or(u32::MAX),
            locked_until: uts(row.try_get("locked_until")?),
        }))
    }

    /// Reserves one PIN try before the PIN is checked, so that no number of
    /// concurrent tries can check more than `lock_after` PINs: one
    /// conditional update counts the try only while the PIN is not locked,
    /// and the try that reaches `lock_after` sets the lock
    /// (`now + backoff(count)`, audited as `credential_pin.lock` with detail
    /// `citizen=ID count=N`) in the same transaction. A right PIN then
    /// releases the count with [`Store::reset_pin_failures`]; a wrong one
    /// leaves it. Returns the state after the reservation, or `None` if the
    /// PIN is locked; `NotFound` if the citizen has no PIN.
    pub async fn reserve_pin_attempt(
        &self,
        citizen_id: i64,
        now: u64,
        lock_after: u32,
        backoff: impl Fn(u32) -> u64,
    ) -> Result<Option<PinState>> {
        let mut tx = self.begin().await?;
        // The row is write-locked from here to commit (PostgreSQL), or the
        // database is (SQLite): a racing try re-reads `locked_until` after us.
        let res = sqlx::query(
            "UPDATE credential_pins SET failed_count = failed_count + 1, updated_at = $1
             WHERE citizen_id = $2 AND locked_until <= $1",
        )
        .bind(ts(now))
        .bind(citizen_id)
        .execute(tx.conn())
        .await?;
        let row = sqlx::query(
            "SELECT pin_hash, failed_count, locked_until FROM credential_pins WHERE citizen_id = $1",
        )
        .bind(citizen_id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("credential PIN"))?;
        if res.rows_affected() != 1 {
            return Ok(None);
        }
        let count = u32::try_from(row.try_get::<i64, _>("failed_count")?).unwrap_or(u32::MAX);
        let mut locked_until = uts(row.try_get("locked_until")?);
        if count >= lock_after {
            locked_until = now.saturating_add(backoff(count));
            sqlx::query("UPDATE credential_pins SET locked_until = $1 WHERE citizen_id = $2")
                .bind(ts(locked_until))
                .bind(citizen_id)
                .execute(tx.conn())
                .await?;
            let note = AuditNote::new(
                "platform",
                "credential_pin.lock",
                format!("citizen={citizen_id} count={count}"),
            );
            tx.audit(&note, now).await?;
        }
        tx.commit().await?;
        Ok(Some(PinState {
            citizen_id,
            pin_hash: row.try_get("pin_hash")?,
            failed_count: count,
            locked_until,
        }))
    }

    /// Clears the wrong-PIN count after a right PIN.
    pub async fn reset_pin_failures(&self, citizen_id: i64, now: u64) -> Result<()> {
        sqlx::query("UPDATE credential_pins SET failed_count = 0, locked_until = 0, updated_at = $1 WHERE citizen_id = $2")
            .bind(ts(now))
            .bind(citizen_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
