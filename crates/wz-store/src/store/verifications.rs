//! Verifications: the record behind each verdict, idempotent retries, the citizen's history.

use sqlx::Row;

use crate::model::{HistoryRow, VerificationRecord};
use crate::{Result, StoreError};

use wz_proto::CredentialId;

use super::*;

/// Binds a verification's ten columns as `$1..$10`, in table order.
fn bind_verification<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    v: &VerificationRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(v.serial.clone())
        .bind(v.rp_id.clone())
        .bind(v.request_nonce.clone())
        .bind(v.request_hash.to_vec())
        .bind(v.citizen_id)
        .bind(v.cred_id.map(|c| c.0.to_vec()))
        .bind(i64::from(v.mode))
        .bind(i64::from(v.result))
        .bind(ts(v.time))
        .bind(v.response.clone())
}

/// What SQLite's counter trigger (migration 0005) raises.
const COUNTER_NOT_ACCEPTED: &str = "wz: QR counter not accepted";

/// How a verification insert the database refused ends, whichever driver
/// reported it: a clash on the serial or the request nonce is a conflict,
/// the counter trigger's refusal is "not accepted"; anything else (`None`)
/// stays an error of its own.
fn refused(unique_violation: bool, message: &str) -> Option<Result<bool>> {
    if unique_violation {
        Some(Err(StoreError::Conflict("verification serial or request nonce")))
    } else if message.contains(COUNTER_NOT_ACCEPTED) {
        Some(Ok(false))
    } else {
        None
    }
}

impl Store {
    /// Logs a verification with its signed response.
    pub async fn insert_verification(&self, v: &VerificationRecord) -> Result<()> {
        if self.record_verification(v, None).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict("credential counter"))
        }
    }

    /// Stores a verification and, for a QR verification, accepts its
    /// counter in the same statement: a crash leaves either both or
    /// neither, so no QR counter moves without its verdict. False (and
    /// nothing written) when the counter is no longer above the last one
    /// accepted or the credential is no longer active: another request
    /// with this QR was recorded first. One statement, one round trip: on
    /// SQLite no transaction holds the single writer between round trips.
    pub async fn record_verification(
        &self,
        v: &VerificationRecord,
        accept_counter: Option<(CredentialId, u32)>,
    ) -> Result<bool> {
        let sql = match (self.backend, accept_counter) {
            // On SQLite the trigger of migration 0005 moves the counter or
            // aborts the statement.
            (Backend::Sqlite, _) | (Backend::Postgres, None) => {
                "INSERT INTO verifications (serial, rp_id, request_nonce, request_hash, citizen_id, cred_id, mode, result, time, response, qr_counter)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            }
            // The INSERT runs only if the UPDATE took the counter; a clash
            // on the serial or the request nonce aborts the whole statement.
            (Backend::Postgres, Some(_)) => {
                "WITH accepted AS (
                     UPDATE credentials SET last_counter = $11
                     WHERE cred_id = $6 AND status = 'active' AND last_counter < $11
                     RETURNING 1
                 )
                 INSERT INTO verifications (serial, rp_id, request_nonce, request_hash, citizen_id, cred_id, mode, result, time, response, qr_counter)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM accepted)"
            }
        };
        let cred_id = accept_counter.map(|(c, _)| c);
        if cred_id.is_some() && cred_id != v.cred_id {
            return Err(StoreError::Conflict("counter of another credential"));
        }
        let qr_counter = accept_counter.map(|(_, n)| i64::from(n));
        if let Some(inline) = &self.inline {
            let res = inline.try_write(|c| {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::named_params! {
                    "$1": v.serial, "$2": v.rp_id, "$3": v.request_nonce, "$4": v.request_hash.as_slice(),
                    "$5": v.citizen_id, "$6": v.cred_id.as_ref().map(|c| c.0.as_slice()),
                    "$7": i64::from(v.mode), "$8": i64::from(v.result), "$9": ts(v.time),
                    "$10": v.response, "$11": qr_counter,
                })?)
            });
            match res {
                Ok(Some(rows)) => return Ok(rows == 1),
                // Another writer holds the database: queue on sqlx's.
                Ok(None) => {}
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, message))) => {
                    let unique = matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    );
                    return refused(unique, message.as_deref().unwrap_or_default())
                        .unwrap_or_else(|| Err(rusqlite::Error::SqliteFailure(f, message).into()));
                }
                Err(e) => return Err(e),
            }
        }
        let mut conn = self.hot_writes.take().await?;
        let res = bind_verification(sqlx::query(sql), v)
            .bind(qr_counter)
            .execute(conn.conn()?)
            .await;
        // A refusal by the database is a completed statement too.
        if matches!(&res, Ok(_) | Err(sqlx::Error::Database(_))) {
            conn.finish();
        }
        match res {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(d)) => refused(d.is_unique_violation(), d.message())
                .unwrap_or_else(|| Err(sqlx::Error::Database(d).into())),
            Err(e) => Err(e.into()),
        }
    }

    /// A verification's citizen and result code, by verdict serial (for
    /// checking what clients were told against what was recorded).
    pub async fn verification_by_serial(&self, serial: &str) -> Result<Option<(Option<i64>, u16)>> {
        let row = sqlx::query("SELECT citizen_id, result FROM verifications WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let result =
            u16::try_from(row.try_get::<i64, _>("result")?).map_err(|_| StoreError::Corrupt("result"))?;
        Ok(Some((row.try_get("citizen_id")?, result)))
    }

    /// The verification an RP request (by its nonce) already produced.
    pub async fn verification_for_request(
        &self,
        rp_id: &str,
        nonce: &str,
    ) -> Result<Option<VerificationRecord>> {
        const SQL: &str =
            "SELECT serial, rp_id, request_nonce, request_hash, citizen_id, cred_id, mode, result, time, response
             FROM verifications WHERE rp_id = $1 AND request_nonce = $2";
        fn record(row: &impl Columns) -> Result<VerificationRecord> {
            let cred: Option<Vec<u8>> = row.col("cred_id")?;
            let hash: Vec<u8> = row.col("request_hash")?;
            Ok(VerificationRecord {
                serial: row.col("serial")?,
                rp_id: row.col("rp_id")?,
                request_nonce: row.col("request_nonce")?,
                request_hash: hash.try_into().map_err(|_| StoreError::Corrupt("request hash"))?,
                citizen_id: row.col("citizen_id")?,
                cred_id: cred.as_deref().map(cred_id_from).transpose()?,
                mode: u8::try_from(row.col::<i64>("mode")?).map_err(|_| StoreError::Corrupt("mode"))?,
                result: u16::try_from(row.col::<i64>("result")?)
                    .map_err(|_| StoreError::Corrupt("result"))?,
                time: uts(row.col("time")?),
                response: row.col("response")?,
            })
        }
        hot_read_one!(self, SQL, record, ["$1" => rp_id, "$2" => nonce])
    }

    /// "Who verified me": a citizen's verifications, newest first.
    pub async fn history(&self, citizen_id: i64, limit: u32) -> Result<Vec<HistoryRow>> {
        let rows = sqlx::query(
            "SELECT r.name AS rp_name, v.time, v.mode, v.result
             FROM verifications v JOIN relying_parties r ON r.rp_id = v.rp_id
             WHERE v.citizen_id = $1 ORDER BY v.time DESC, v.serial DESC LIMIT $2",
        )
        .bind(citizen_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryRow {
                    rp_name: row.try_get("rp_name")?,
                    time: uts(row.try_get("time")?),
                    mode: u8::try_from(row.try_get::<i64, _>("mode")?)
                        .map_err(|_| StoreError::Corrupt("mode"))?,
                    result: u16::try_from(row.try_get::<i64, _>("result")?)
                        .map_err(|_| StoreError::Corrupt("result"))?,
                })
            })
            .collect()
    }
}
