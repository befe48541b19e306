//! Credentials: issuing (superseding the old one), status transitions, QR counters.

use sqlx::Row;
use wz_proto::api::CredentialStatus;
use wz_proto::{CredentialId, Level};

use crate::audit::AuditNote;
use crate::model::{
    CredentialRow, NewCredential, RegistryRecord, level_from_i64, status_from_text, status_text,
};
use crate::{Result, StoreError};

use super::*;

impl Store {
    /// Issues a credential in one transaction: the citizen's active
    /// credential (if any) becomes `superseded`, the new one `active`.
    /// With `pin_hash`, the citizen's credential PIN is set (and its lockout
    /// cleared) in the same transaction. Returns the ids of the credentials
    /// it superseded. `audit` is written in the same transaction, its detail
    /// followed by ` superseded=N`. A lightweight credential never replaces a
    /// live (active or suspended) upgraded one: `Conflict("upgraded
    /// credential")`, nothing written.
    pub async fn issue_credential(
        &self,
        c: &NewCredential,
        pin_hash: Option<&str>,
        audit: &AuditNote,
        now: u64,
    ) -> Result<Vec<CredentialId>> {
        let mut tx = self.begin().await?;
        if c.level == Level::Lightweight {
            // A lightweight credential never replaces an upgraded one: checked
            // here, and the update below leaves upgraded rows alone, so an
            // upgraded credential issued concurrently makes this insert hit
            // the one-active index instead of being superseded.
            let upgraded = sqlx::query(
                "SELECT cred_id FROM credentials
                 WHERE citizen_id = $1 AND status IN ('active', 'suspended') AND level = $2",
            )
            .bind(c.citizen_id)
            .bind(Level::Upgraded as i64)
            .fetch_optional(tx.conn())
            .await?;
            if upgraded.is_some() {
                return Err(StoreError::Conflict("upgraded credential"));
            }
        }
        let old = sqlx::query("SELECT cred_id FROM credentials WHERE citizen_id = $1 AND status = 'active'")
            .bind(c.citizen_id)
            .fetch_all(tx.conn())
            .await?;
        let old = old
            .iter()
            .map(|r| {
                r.try_get::<Vec<u8>, _>("cred_id")
                    .map_err(StoreError::from)
                    .and_then(|b| cred_id_from(&b))
            })
            .collect::<Result<Vec<_>>>()?;
        sqlx::query(
            "UPDATE credentials SET status = 'superseded', status_changed_at = $1
             WHERE citizen_id = $2 AND status IN ('active', 'suspended') AND level <= $3",
        )
        .bind(ts(now))
        .bind(c.citizen_id)
        .bind(c.level as i64)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "INSERT INTO credentials (cred_id, citizen_id, level, device_public_key, certificate, status,
                                      not_before, not_after, last_counter, created_at, status_changed_at)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, -1, $8, $8)",
        )
        .bind(c.cred_id.0.to_vec())
        .bind(c.citizen_id)
        .bind(c.level as i64)
        .bind(c.device_public_key.clone())
        .bind(c.certificate.clone())
        .bind(ts(c.not_before))
        .bind(ts(c.not_after))
        .bind(ts(now))
        .execute(tx.conn())
        .await?;
        if let Some(hash) = pin_hash {
            Self::set_pin_in(&mut tx, c.citizen_id, hash, now).await?;
        }
        let note = AuditNote {
            detail: format!("{} superseded={}", audit.detail, old.len()),
            ..audit.clone()
        };
        tx.audit(&note, now).await?;
        tx.commit().await?;
        Ok(old)
    }

    /// A credential by id.
    pub async fn credential(&self, cred_id: &CredentialId) -> Result<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT cred_id, citizen_id, level, device_public_key, certificate, status, not_before, not_after,
                    last_counter, created_at, status_changed_at
             FROM credentials WHERE cred_id = $1",
        )
        .bind(cred_id.0.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::credential_from_row).transpose()
    }

    /// Every credential a citizen has held, newest first (the operator's
    /// lookup through the blind index; never a bulk listing).
    pub async fn credentials_of_citizen(&self, citizen_id: i64) -> Result<Vec<CredentialRow>> {
        let rows = sqlx::query(
            "SELECT cred_id, citizen_id, level, device_public_key, certificate, status, not_before, not_after,
                    last_counter, created_at, status_changed_at
             FROM credentials WHERE citizen_id = $1 ORDER BY created_at DESC, cred_id",
        )
        .bind(citizen_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::credential_from_row).collect()
    }

    /// A credential and its citizen's registry record, in one query (the
    /// hot path of every QR verification) — without the sealed photo, tens
    /// of kilobytes that only an RP entitled to the photo needs
    /// (`registry_by_id` has it).
    pub async fn credential_with_citizen(
        &self,
        cred_id: &CredentialId,
    ) -> Result<Option<(CredentialRow, RegistryRecord)>> {
        const SQL: &str =
            "SELECT c.cred_id, c.citizen_id, c.level, c.device_public_key, c.certificate, c.status, c.not_before,
                    c.not_after, c.last_counter, c.created_at AS cred_created_at, c.status_changed_at,
                    r.id_index, r.pii, NULL AS photo, r.face_template, r.template_model, r.data_key_id, r.created_at
             FROM credentials c JOIN registry r ON r.citizen_id = c.citizen_id
             WHERE c.cred_id = $1";
        fn both(row: &impl Columns) -> Result<(CredentialRow, RegistryRecord)> {
            Ok((Store::credential_from_row(row)?, Store::registry_from_row(row)?))
        }
        hot_read_one!(self, SQL, both, ["$1" => cred_id.0.as_slice()])
    }

    pub(super) fn credential_from_row(row: &impl Columns) -> Result<CredentialRow> {
        let id: Vec<u8> = row.col("cred_id")?;
        let status: String = row.col("status")?;
        let created_at: i64 = row.col("cred_created_at").or_else(|_| row.col("created_at"))?;
        Ok(CredentialRow {
            cred_id: cred_id_from(&id)?,
            citizen_id: row.col("citizen_id")?,
            level: level_from_i64(row.col("level")?)?,
            device_public_key: row.col("device_public_key")?,
            certificate: row.col("certificate")?,
            status: status_from_text(&status)?,
            not_before: uts(row.col("not_before")?),
            not_after: uts(row.col("not_after")?),
            last_counter: row.col("last_counter")?,
            created_at: uts(created_at),
            status_changed_at: uts(row.col("status_changed_at")?),
        })
    }

    /// Moves a credential from `from` to `to`, audited in the same
    /// transaction; false (and nothing written) if it was not in `from`.
    pub async fn transition_credential(
        &self,
        cred_id: &CredentialId,
        from: CredentialStatus,
        to: CredentialStatus,
        audit: &AuditNote,
        now: u64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE credentials SET status = $1, status_changed_at = $2 WHERE cred_id = $3 AND status = $4",
        )
        .bind(status_text(to))
        .bind(ts(now))
        .bind(cred_id.0.to_vec())
        .bind(status_text(from))
        .execute(tx.conn())
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Voids every live credential of a citizen (e.g. after a PIN reset),
    /// audited in the same transaction (detail followed by ` revoked=N`).
    pub async fn revoke_citizen_credentials(
        &self,
        citizen_id: i64,
        audit: &AuditNote,
        now: u64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE credentials SET status = 'revoked', status_changed_at = $1
             WHERE citizen_id = $2 AND status IN ('active', 'suspended')",
        )
        .bind(ts(now))
        .bind(citizen_id)
        .execute(tx.conn())
        .await?;
        let n = res.rows_affected();
        if n > 0 {
            let note = AuditNote {
                detail: format!("{} revoked={n}", audit.detail),
                ..audit.clone()
            };
            tx.audit(&note, now).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Accepts a QR use: true only if the credential is active and `counter`
    /// is above every counter accepted before. One conditional update, so two
    /// platform nodes racing on one QR accept it once.
    #[cfg(feature = "testing")]
    pub async fn accept_qr_counter(&self, cred_id: &CredentialId, counter: u32) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE credentials SET last_counter = $1 WHERE cred_id = $2 AND status = 'active' AND last_counter < $1",
        )
        .bind(i64::from(counter))
        .bind(cred_id.0.to_vec())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}
