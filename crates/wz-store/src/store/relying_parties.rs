//! Relying parties, their keys, and the request nonces they used.

use wz_proto::AuthMode;
use wz_proto::api::Attribute;

use crate::audit::AuditNote;
use crate::model::{EntityStatus, RelyingParty, RpKey, RpRole};
use crate::{Result, StoreError};

use super::*;

impl Store {
    /// Registers an RP with its first key and its audit entry, in one transaction.
    pub async fn insert_rp(&self, rp: &RelyingParty, key: &RpKey, audit: &AuditNote) -> Result<()> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "INSERT INTO relying_parties (rp_id, name, role, modes, attributes, rate_per_s, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rp_id) DO NOTHING",
        )
        .bind(rp.rp_id.clone())
        .bind(rp.name.clone())
        .bind(rp.role.as_str())
        .bind(join_modes(&rp.modes))
        .bind(join_attrs(&rp.attributes))
        .bind(i64::from(rp.rate_per_s))
        .bind(rp.status.as_str())
        .bind(ts(rp.created_at))
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict("relying party id"));
        }
        Self::insert_rp_key_in(&mut tx, key).await?;
        tx.audit(audit, rp.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn insert_rp_key_in(tx: &mut StoreTx, key: &RpKey) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO rp_keys (key_id, rp_id, public_key, status, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key.key_id.clone())
        .bind(key.rp_id.clone())
        .bind(key.public_key.clone())
        .bind(key.status.as_str())
        .bind(ts(key.created_at))
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict("RP key id"));
        }
        Ok(())
    }

    /// Adds a key to an RP; with `revoke_others`, its other keys are revoked
    /// in the same transaction (a rotation with no overlap), as is `audit`.
    pub async fn add_rp_key(
        &self,
        key: &RpKey,
        revoke_others: bool,
        audit: &AuditNote,
        now: u64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT rp_id FROM relying_parties WHERE rp_id = $1")
            .bind(key.rp_id.clone())
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("relying party"));
        }
        if revoke_others {
            sqlx::query("UPDATE rp_keys SET status = 'revoked', revoked_at = $1 WHERE rp_id = $2 AND status = 'active'")
                .bind(ts(now))
                .bind(key.rp_id.clone())
                .execute(tx.conn())
                .await?;
        }
        Self::insert_rp_key_in(&mut tx, key).await?;
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes one RP key, audited in the same transaction; false (and
    /// nothing written) if it was not active.
    pub async fn revoke_rp_key(&self, key_id: &str, audit: &AuditNote, now: u64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE rp_keys SET status = 'revoked', revoked_at = $1 WHERE key_id = $2 AND status = 'active'",
        )
        .bind(ts(now))
        .bind(key_id)
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes an RP and all its keys, audited in the same transaction;
    /// false (and nothing written) if it was not active.
    pub async fn revoke_rp(&self, rp_id: &str, audit: &AuditNote, now: u64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE relying_parties SET status = 'revoked' WHERE rp_id = $1 AND status = 'active'",
        )
        .bind(rp_id)
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE rp_keys SET status = 'revoked', revoked_at = $1 WHERE rp_id = $2 AND status = 'active'",
        )
        .bind(ts(now))
        .bind(rp_id)
        .execute(tx.conn())
        .await?;
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) fn rp_from_row(row: &impl Columns) -> Result<RelyingParty> {
        let modes: String = row.col("modes")?;
        let attrs: String = row.col("attributes")?;
        let role: String = row.col("role")?;
        let status: String = row.col("status")?;
        Ok(RelyingParty {
            rp_id: row.col("rp_id")?,
            name: row.col("name")?,
            role: RpRole::parse(&role)?,
            modes: if modes.is_empty() {
                Vec::new()
            } else {
                AuthMode::parse_list(&modes).map_err(|_| StoreError::Corrupt("RP modes"))?
            },
            attributes: Attribute::parse_list(&attrs).map_err(|_| StoreError::Corrupt("RP attributes"))?,
            rate_per_s: u32::try_from(row.col::<i64>("rate_per_s")?).unwrap_or(0),
            status: EntityStatus::parse(&status)?,
            created_at: uts(row.col("created_at")?),
        })
    }

    /// An RP by id.
    pub async fn rp(&self, rp_id: &str) -> Result<Option<RelyingParty>> {
        let row = sqlx::query(
            "SELECT rp_id, name, role, modes, attributes, rate_per_s, status, created_at FROM relying_parties WHERE rp_id = $1",
        )
        .bind(rp_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::rp_from_row).transpose()
    }

    /// All RPs, by id.
    pub async fn list_rps(&self) -> Result<Vec<RelyingParty>> {
        let rows = sqlx::query(
            "SELECT rp_id, name, role, modes, attributes, rate_per_s, status, created_at FROM relying_parties ORDER BY rp_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::rp_from_row).collect()
    }

    /// Changes what an RP may do, audited in the same transaction.
    pub async fn update_rp_entitlements(
        &self,
        rp_id: &str,
        modes: &[AuthMode],
        attributes: &[Attribute],
        rate_per_s: u32,
        audit: &AuditNote,
        now: u64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE relying_parties SET modes = $1, attributes = $2, rate_per_s = $3 WHERE rp_id = $4",
        )
        .bind(join_modes(modes))
        .bind(join_attrs(attributes))
        .bind(i64::from(rate_per_s))
        .bind(rp_id)
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An RP together with one of its keys, in one query (the hot path of
    /// every signed request). `None` if either is missing or the key belongs
    /// to another RP.
    pub async fn rp_and_key(&self, rp_id: &str, key_id: &str) -> Result<Option<(RelyingParty, RpKey)>> {
        const SQL: &str =
            "SELECT r.rp_id, r.name, r.role, r.modes, r.attributes, r.rate_per_s, r.status, r.created_at,
                    k.key_id, k.public_key, k.status AS key_status, k.created_at AS key_created_at, k.revoked_at
             FROM relying_parties r JOIN rp_keys k ON k.rp_id = r.rp_id
             WHERE r.rp_id = $1 AND k.key_id = $2";
        fn both(row: &impl Columns) -> Result<(RelyingParty, RpKey)> {
            Ok((Store::rp_from_row(row)?, Store::rp_key_from_row(row)?))
        }
        hot_read_one!(self, SQL, both, ["$1" => rp_id, "$2" => key_id])
    }

    /// An RP key by id.
    #[cfg(feature = "testing")]
    pub async fn rp_key(&self, key_id: &str) -> Result<Option<RpKey>> {
        let row = sqlx::query(
            "SELECT key_id, rp_id, public_key, status AS key_status, created_at AS key_created_at, revoked_at
             FROM rp_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::rp_key_from_row).transpose()
    }

    /// An RP key from a row whose key columns are named as `rp_and_key`
    /// selects them (`key_status`, `key_created_at`: beside the RP's own).
    fn rp_key_from_row(row: &impl Columns) -> Result<RpKey> {
        let status: String = row.col("key_status")?;
        Ok(RpKey {
            key_id: row.col("key_id")?,
            rp_id: row.col("rp_id")?,
            public_key: row.col("public_key")?,
            status: EntityStatus::parse(&status)?,
            created_at: uts(row.col("key_created_at")?),
            revoked_at: row.col::<Option<i64>>("revoked_at")?.map(uts),
        })
    }

    /// Remembers an RP request nonce; false if it was seen before (a replay).
    pub async fn remember_rp_nonce(&self, rp_id: &str, nonce: &str, now: u64) -> Result<bool> {
        self.insert_nonce(rp_id, nonce, None, now).await
    }

    /// Claims an RP request nonce for the request whose body hashes to
    /// `request_hash`; false if the nonce was claimed before.
    ///
    /// On PostgreSQL the claim's commit does not wait for the disk (nor a
    /// synchronous standby): whatever the request then makes durable (a
    /// verdict, an enrolment) commits after it in the WAL, and waiting for
    /// that flushes the claim too. A claim lost in a crash therefore had
    /// no effect yet, which is the case of a claim whose request died
    /// before its verdict (`reclaim_unanswered_nonce`); a verdict's own
    /// row is still unique per request nonce.
    pub async fn claim_request_nonce(
        &self,
        rp_id: &str,
        nonce: &str,
        request_hash: &[u8; 32],
        now: u64,
    ) -> Result<bool> {
        self.insert_nonce(rp_id, nonce, Some(request_hash.to_vec()), now)
            .await
    }

    async fn insert_nonce(
        &self,
        rp_id: &str,
        nonce: &str,
        request_hash: Option<Vec<u8>>,
        now: u64,
    ) -> Result<bool> {
        const SQL: &str =
            "INSERT INTO rp_nonces (rp_id, nonce, seen_at, request_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (rp_id, nonce) DO NOTHING";
        if let Some(inline) = &self.inline
            && let Some(inserted) = inline.try_write(|c| {
                let mut stmt = c.prepare_cached(SQL)?;
                Ok(stmt.execute(rusqlite::named_params! {
                    "$1": rp_id, "$2": nonce, "$3": ts(now), "$4": request_hash.as_deref(),
                })?)
            })?
        {
            return Ok(inserted == 1);
        }
        let mut conn = self.nonce_writes.take().await?;
        let res = sqlx::query(SQL)
            .bind(rp_id)
            .bind(nonce)
            .bind(ts(now))
            .bind(request_hash)
            .execute(conn.conn()?)
            .await?;
        conn.finish();
        Ok(res.rows_affected() == 1)
    }

    /// Claims again a nonce that was claimed for this same request
    /// (`request_hash`) before this second and has no verdict: its first
    /// attempt died between the claim and the verdict. At most one retry a
    /// second wins; true if this one did.
    pub async fn reclaim_unanswered_nonce(
        &self,
        rp_id: &str,
        nonce: &str,
        request_hash: &[u8; 32],
        now: u64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE rp_nonces SET seen_at = $3
             WHERE rp_id = $1 AND nonce = $2 AND request_hash = $4 AND seen_at < $3
               AND NOT EXISTS (SELECT 1 FROM verifications v WHERE v.rp_id = $1 AND v.request_nonce = $2)",
        )
        .bind(rp_id)
        .bind(nonce)
        .bind(ts(now))
        .bind(request_hash.to_vec())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Forgets nonces older than `before` (they fail the timestamp check anyway).
    pub async fn purge_rp_nonces(&self, before: u64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM rp_nonces WHERE seen_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }
}
