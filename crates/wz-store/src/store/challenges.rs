//! Liveness challenges (one use, capped) and attempt budgets.

use sqlx::Row;

use crate::Result;
use crate::model::ChallengeRow;

use super::*;

impl Store {
    /// Stores a one-time challenge unless `cap` unused, unexpired
    /// challenges are already stored; false (nothing written) then. The count
    /// and the insert are one statement; concurrent inserts may pass the cap
    /// by at most their number.
    pub async fn insert_challenge_capped(&self, c: &ChallengeRow, cap: u64, now: u64) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO challenges (challenge_id, nonce, purpose, actions, expires_at, used)
             SELECT $1, $2, $3, $4, $5, 0
             WHERE (SELECT COUNT(*) FROM challenges WHERE used = 0 AND expires_at > $6) < $7",
        )
        .bind(c.challenge_id.clone())
        .bind(c.nonce.clone())
        .bind(c.purpose.clone())
        .bind(c.actions.clone())
        .bind(ts(c.expires_at))
        .bind(ts(now))
        .bind(ts(cap))
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Takes one try from `key`'s budget in `scope`: at most `limit` per
    /// `window_secs`-long window. One upsert counts the try and starts a
    /// new window when the old one is over, so concurrent tries cannot pass
    /// the limit. True if this try is within it.
    pub async fn take_attempt(
        &self,
        scope: &str,
        key: &[u8],
        limit: u32,
        window_secs: u64,
        now: u64,
    ) -> Result<bool> {
        let used: i64 = sqlx::query(
            "INSERT INTO attempt_budgets (scope, key, window_start, used) VALUES ($1, $2, $3, 1)
             ON CONFLICT (scope, key) DO UPDATE SET
                 used = CASE WHEN attempt_budgets.window_start <= $4 THEN 1
                             ELSE attempt_budgets.used + 1 END,
                 window_start = CASE WHEN attempt_budgets.window_start <= $4 THEN $3
                                     ELSE attempt_budgets.window_start END
             RETURNING used",
        )
        .bind(scope)
        .bind(key.to_vec())
        .bind(ts(now))
        .bind(ts(now.saturating_sub(window_secs)))
        .fetch_one(&self.pool)
        .await?
        .try_get("used")?;
        Ok(used <= i64::from(limit))
    }

    /// Forgets budgets whose window started before `before`.
    pub async fn purge_attempts(&self, before: u64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM attempt_budgets WHERE window_start < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// Deletes challenges that expired before `before` (used or not): they
    /// can never be taken again. Returns how many went.
    pub async fn purge_challenges(&self, before: u64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM challenges WHERE expires_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    /// How many challenges are stored (expired ones included until purged).
    #[cfg(feature = "testing")]
    pub async fn challenge_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM challenges")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    /// How many RP request nonces are remembered.
    #[cfg(feature = "testing")]
    pub async fn rp_nonce_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM rp_nonces")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    /// Uses up a challenge: returns it only the first time, and only before it expires.
    pub async fn take_challenge(&self, challenge_id: &str, now: u64) -> Result<Option<ChallengeRow>> {
        let mut tx = self.begin_tx().await?;
        let res = sqlx::query(
            "UPDATE challenges SET used = 1 WHERE challenge_id = $1 AND used = 0 AND expires_at > $2",
        )
        .bind(challenge_id)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let row = sqlx::query("SELECT challenge_id, nonce, purpose, actions, expires_at FROM challenges WHERE challenge_id = $1")
            .bind(challenge_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ChallengeRow {
            challenge_id: row.try_get("challenge_id")?,
            nonce: row.try_get("nonce")?,
            purpose: row.try_get("purpose")?,
            actions: row.try_get("actions")?,
            expires_at: uts(row.try_get("expires_at")?),
        }))
    }
}
