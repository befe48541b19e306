//! The store: connection, migrations and every query.

use std::borrow::Cow;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};
use wz_proto::api::{Attribute, CredentialStatus};
use wz_proto::{AuthMode, CredentialId, Level};

use crate::audit::{AuditEntry, AuditNote, AuditReport, GENESIS_HASH, check_chain, entry_hash};
use crate::model::{
    ChallengeRow, CredentialRow, EntityStatus, HistoryRow, NewCredential, NewRegistryRecord, PinState,
    PlatformKeyRow, RegistryRecord, RelyingParty, RpKey, RpRole, VerificationRecord, level_from_i64,
    status_from_text, status_text,
};
use crate::{Result, StoreError};

macro_rules! registry_select {
    () => {
        "SELECT citizen_id, id_index, pii, photo, face_template, template_model, data_key_id, created_at FROM registry"
    };
}

/// Which database is underneath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "challenge expiry",
        include_str!("../migrations/sqlite/0002_challenge_expiry.sql"),
    ),
    (
        3,
        "attempt budgets",
        include_str!("../migrations/sqlite/0003_attempt_budgets.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "challenge expiry",
        include_str!("../migrations/postgres/0002_challenge_expiry.sql"),
    ),
    (
        3,
        "attempt budgets",
        include_str!("../migrations/postgres/0003_attempt_budgets.sql"),
    ),
];

/// The platform's storage. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// One open database transaction. An audited change writes its rows and its
/// audit entry through the same handle, so both commit or neither does (a
/// crash, an error or a dropped handle between the two writes rolls back).
#[derive(Debug)]
pub struct StoreTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

/// Key of the PostgreSQL advisory lock that orders audit appends across
/// platform nodes; held only from the audit insert to the commit.
const AUDIT_LOCK_KEY: i64 = 0x0077_7a61_7564_6974;

impl StoreTx {
    /// Appends `note` to the hash-chained audit log inside this transaction.
    pub async fn audit(&mut self, note: &AuditNote, now: u64) -> Result<AuditEntry> {
        if self.backend == Backend::Postgres {
            // Serialises chain heads between nodes: the lock is released at
            // commit or rollback, so the next appender reads this entry.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_LOCK_KEY)
                .execute(&mut *self.tx)
                .await?;
        }
        let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *self.tx)
            .await?;
        let (prev_seq, prev_hash) = match last {
            Some(r) => {
                let h: Vec<u8> = r.try_get("hash")?;
                (
                    uts(r.try_get("seq")?),
                    h.try_into().map_err(|_| StoreError::Corrupt("audit hash"))?,
                )
            }
            None => (0, GENESIS_HASH),
        };
        let seq = prev_seq + 1;
        let hash = entry_hash(&prev_hash, seq, now, &note.actor, &note.action, &note.detail);
        sqlx::query(
            "INSERT INTO audit_log (seq, time, actor, action, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ts(seq))
        .bind(ts(now))
        .bind(note.actor.clone())
        .bind(note.action.clone())
        .bind(note.detail.clone())
        .bind(prev_hash.to_vec())
        .bind(hash.to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(AuditEntry {
            seq,
            time: now,
            actor: note.actor.clone(),
            action: note.action.clone(),
            detail: note.detail.clone(),
            prev_hash,
            hash,
        })
    }

    /// Commits every write made through this handle.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

fn ts(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uts(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn cred_id_from(bytes: &[u8]) -> Result<CredentialId> {
    bytes
        .try_into()
        .map(CredentialId)
        .map_err(|_| StoreError::Corrupt("credential id"))
}

fn join_modes(modes: &[AuthMode]) -> String {
    modes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn join_attrs(attrs: &[Attribute]) -> String {
    attrs.iter().map(|a| a.name()).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Connects and brings the schema up to date. URLs:
    /// `sqlite://PATH` (the file is created if missing) or
    /// `postgres://USER@HOST:PORT/DB` (add `?options=-c%20search_path%3DSCHEMA` for a schema).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                // SQLite has one writer at a time; one connection turns what
                // would be SQLITE_BUSY upgrade failures into a plain queue.
                AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA journal_mode = WAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA busy_timeout = 5000")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16).connect(url).await?,
        };
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = list
            .iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*d),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect::<Vec<_>>();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The database underneath.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Opens a transaction (see [`StoreTx`]).
    pub async fn begin(&self) -> Result<StoreTx> {
        Ok(StoreTx {
            tx: self.pool.begin().await?,
            backend: self.backend,
        })
    }

    // ---------------------------------------------------------------- registry

    /// Inserts a batch in one transaction; rows whose blind index already
    /// exists are skipped (so an interrupted import can simply be rerun).
    /// Returns how many rows were new. A batch that added rows is audited
    /// (`registry.import`, by `actor`) in the same transaction.
    pub async fn insert_registry_batch(
        &self,
        rows: &[NewRegistryRecord],
        actor: &str,
        now: u64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for r in rows {
            let res = sqlx::query(
                "INSERT INTO registry (id_index, pii, photo, face_template, template_model, data_key_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id_index) DO NOTHING",
            )
            .bind(r.id_index.to_vec())
            .bind(r.pii.clone())
            .bind(r.photo.clone())
            .bind(r.face_template.clone())
            .bind(r.template_model.clone())
            .bind(r.data_key_id.clone())
            .bind(ts(now))
            .execute(tx.conn())
            .await?;
            inserted += res.rows_affected();
        }
        if inserted > 0 {
            tx.audit(
                &AuditNote::new(actor, "registry.import", format!("rows={inserted}")),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    fn registry_from_row(row: &AnyRow) -> Result<RegistryRecord> {
        let id_index: Vec<u8> = row.try_get("id_index")?;
        Ok(RegistryRecord {
            citizen_id: row.try_get("citizen_id")?,
            record: NewRegistryRecord {
                id_index: id_index
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("registry index"))?,
                pii: row.try_get("pii")?,
                photo: row.try_get("photo")?,
                face_template: row.try_get("face_template")?,
                template_model: row.try_get("template_model")?,
                data_key_id: row.try_get("data_key_id")?,
            },
            created_at: uts(row.try_get("created_at")?),
        })
    }

    /// The record with this blind index.
    pub async fn registry_by_index(&self, id_index: &[u8; 32]) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query(concat!(registry_select!(), " WHERE id_index = $1"))
            .bind(id_index.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::registry_from_row).transpose()
    }

    /// The record of a citizen.
    pub async fn registry_by_id(&self, citizen_id: i64) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query(concat!(registry_select!(), " WHERE citizen_id = $1"))
            .bind(citizen_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::registry_from_row).transpose()
    }

    /// Number of registry records.
    pub async fn registry_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM registry")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    // ------------------------------------------------------------- credentials

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

    /// A credential and its citizen's registry record, in one query (the
    /// hot path of every QR verification).
    pub async fn credential_with_citizen(
        &self,
        cred_id: &CredentialId,
    ) -> Result<Option<(CredentialRow, RegistryRecord)>> {
        let row = sqlx::query(
            "SELECT c.cred_id, c.citizen_id, c.level, c.device_public_key, c.certificate, c.status, c.not_before,
                    c.not_after, c.last_counter, c.created_at AS cred_created_at, c.status_changed_at,
                    r.id_index, r.pii, r.photo, r.face_template, r.template_model, r.data_key_id, r.created_at
             FROM credentials c JOIN registry r ON r.citizen_id = c.citizen_id
             WHERE c.cred_id = $1",
        )
        .bind(cred_id.0.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            Self::credential_from_row(&row)?,
            Self::registry_from_row(&row)?,
        )))
    }

    fn credential_from_row(row: &AnyRow) -> Result<CredentialRow> {
        let id: Vec<u8> = row.try_get("cred_id")?;
        let status: String = row.try_get("status")?;
        let created_at: i64 = row
            .try_get("cred_created_at")
            .or_else(|_| row.try_get("created_at"))?;
        Ok(CredentialRow {
            cred_id: cred_id_from(&id)?,
            citizen_id: row.try_get("citizen_id")?,
            level: level_from_i64(row.try_get("level")?)?,
            device_public_key: row.try_get("device_public_key")?,
            certificate: row.try_get("certificate")?,
            status: status_from_text(&status)?,
            not_before: uts(row.try_get("not_before")?),
            not_after: uts(row.try_get("not_after")?),
            last_counter: row.try_get("last_counter")?,
            created_at: uts(created_at),
            status_changed_at: uts(row.try_get("status_changed_at")?),
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

    // -------------------------------------------------------------------- PINs

    /// Sets (or replaces) a citizen's PIN hash and clears the lockout.
    pub async fn set_pin(&self, citizen_id: i64, pin_hash: &str, audit: &AuditNote, now: u64) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::set_pin_in(&mut tx, citizen_id, pin_hash, now).await?;
        tx.audit(audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_pin_in(tx: &mut StoreTx, citizen_id: i64, pin_hash: &str, now: u64) -> Result<()> {
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

    // -------------------------------------------------------- relying parties

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

    async fn insert_rp_key_in(tx: &mut StoreTx, key: &RpKey) -> Result<()> {
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

    fn rp_from_row(row: &AnyRow) -> Result<RelyingParty> {
        let modes: String = row.try_get("modes")?;
        let attrs: String = row.try_get("attributes")?;
        let role: String = row.try_get("role")?;
        let status: String = row.try_get("status")?;
        Ok(RelyingParty {
            rp_id: row.try_get("rp_id")?,
            name: row.try_get("name")?,
            role: RpRole::parse(&role)?,
            modes: if modes.is_empty() {
                Vec::new()
            } else {
                AuthMode::parse_list(&modes).map_err(|_| StoreError::Corrupt("RP modes"))?
            },
            attributes: Attribute::parse_list(&attrs).map_err(|_| StoreError::Corrupt("RP attributes"))?,
            rate_per_s: u32::try_from(row.try_get::<i64, _>("rate_per_s")?).unwrap_or(0),
            status: EntityStatus::parse(&status)?,
            created_at: uts(row.try_get("created_at")?),
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
        let row = sqlx::query(
            "SELECT r.rp_id, r.name, r.role, r.modes, r.attributes, r.rate_per_s, r.status, r.created_at,
                    k.key_id, k.public_key, k.status AS key_status, k.created_at AS key_created_at, k.revoked_at
             FROM relying_parties r JOIN rp_keys k ON k.rp_id = r.rp_id
             WHERE r.rp_id = $1 AND k.key_id = $2",
        )
        .bind(rp_id)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let rp = Self::rp_from_row(&row)?;
        let status: String = row.try_get("key_status")?;
        let key = RpKey {
            key_id: row.try_get("key_id")?,
            rp_id: rp.rp_id.clone(),
            public_key: row.try_get("public_key")?,
            status: EntityStatus::parse(&status)?,
            created_at: uts(row.try_get("key_created_at")?),
            revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(uts),
        };
        Ok(Some((rp, key)))
    }

    /// An RP key by id.
    pub async fn rp_key(&self, key_id: &str) -> Result<Option<RpKey>> {
        let row = sqlx::query(
            "SELECT key_id, rp_id, public_key, status, created_at, revoked_at FROM rp_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        Ok(Some(RpKey {
            key_id: row.try_get("key_id")?,
            rp_id: row.try_get("rp_id")?,
            public_key: row.try_get("public_key")?,
            status: EntityStatus::parse(&status)?,
            created_at: uts(row.try_get("created_at")?),
            revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(uts),
        }))
    }

    /// Remembers an RP request nonce; false if it was seen before (a replay).
    pub async fn remember_rp_nonce(&self, rp_id: &str, nonce: &str, now: u64) -> Result<bool> {
        let res = sqlx::query("INSERT INTO rp_nonces (rp_id, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT (rp_id, nonce) DO NOTHING")
            .bind(rp_id)
            .bind(nonce)
            .bind(ts(now))
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

    // ------------------------------------------------------------ verifications

    /// Logs a verification with its signed response.
    pub async fn insert_verification(&self, v: &VerificationRecord) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO verifications (serial, rp_id, request_nonce, request_hash, citizen_id, cred_id, mode, result, time, response)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(v.serial.clone())
        .bind(v.rp_id.clone())
        .bind(v.request_nonce.clone())
        .bind(v.request_hash.to_vec())
        .bind(v.citizen_id)
        .bind(v.cred_id.map(|c| c.0.to_vec()))
        .bind(i64::from(v.mode))
        .bind(i64::from(v.result))
        .bind(ts(v.time))
        .bind(v.response.clone())
        .execute(&self.pool)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict("verification serial or request nonce"));
        }
        Ok(())
    }

    /// The verification an RP request (by its nonce) already produced.
    pub async fn verification_for_request(
        &self,
        rp_id: &str,
        nonce: &str,
    ) -> Result<Option<VerificationRecord>> {
        let row = sqlx::query(
            "SELECT serial, rp_id, request_nonce, request_hash, citizen_id, cred_id, mode, result, time, response
             FROM verifications WHERE rp_id = $1 AND request_nonce = $2",
        )
        .bind(rp_id)
        .bind(nonce)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let cred: Option<Vec<u8>> = row.try_get("cred_id")?;
        let hash: Vec<u8> = row.try_get("request_hash")?;
        Ok(Some(VerificationRecord {
            serial: row.try_get("serial")?,
            rp_id: row.try_get("rp_id")?,
            request_nonce: row.try_get("request_nonce")?,
            request_hash: hash.try_into().map_err(|_| StoreError::Corrupt("request hash"))?,
            citizen_id: row.try_get("citizen_id")?,
            cred_id: cred.as_deref().map(cred_id_from).transpose()?,
            mode: u8::try_from(row.try_get::<i64, _>("mode")?).map_err(|_| StoreError::Corrupt("mode"))?,
            result: u16::try_from(row.try_get::<i64, _>("result")?)
                .map_err(|_| StoreError::Corrupt("result"))?,
            time: uts(row.try_get("time")?),
            response: row.try_get("response")?,
        }))
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

    // --------------------------------------------------------------- challenges

    /// Stores a one-time challenge.
    pub async fn insert_challenge(&self, c: &ChallengeRow) -> Result<()> {
        sqlx::query("INSERT INTO challenges (challenge_id, nonce, purpose, actions, expires_at, used) VALUES ($1, $2, $3, $4, $5, 0)")
            .bind(c.challenge_id.clone())
            .bind(c.nonce.clone())
            .bind(c.purpose.clone())
            .bind(c.actions.clone())
            .bind(ts(c.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

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

    // ---------------------------------------------------------------- budgets

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
    pub async fn challenge_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM challenges")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    /// How many RP request nonces are remembered.
    pub async fn rp_nonce_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM rp_nonces")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(uts(n))
    }

    /// Uses up a challenge: returns it only the first time, and only before it expires.
    pub async fn take_challenge(&self, challenge_id: &str, now: u64) -> Result<Option<ChallengeRow>> {
        let mut tx = self.pool.begin().await?;
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

    // ----------------------------------------------------------- platform keys

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

    async fn insert_platform_key_in(tx: &mut StoreTx, k: &PlatformKeyRow) -> Result<()> {
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

    // ------------------------------------------------------------------- audit

    /// Appends an audit entry on its own (for events that change nothing
    /// else). Appenders on several nodes are ordered by the chain lock.
    pub async fn append_audit(&self, note: &AuditNote, now: u64) -> Result<AuditEntry> {
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
