//! The platform's domain logic: plain async functions over the store that
//! tests call directly and HTTP handlers wrap. Time is always a parameter.

use std::sync::{Arc, RwLock};

use wz_crypto::Sm2PublicKey;
use wz_proto::api::{Attribute, KeysResponse};
use wz_proto::{AuthMode, CivilDate, ResponseAuth, ResponseTarget, ResultCode};
use wz_store::{RpRole, Store};

use crate::face::FaceEngine;
use crate::keys::{MasterKey, PlatformKeys};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::{PlatformConfig, PlatformError, Result};

use crate::enrol::light::ENROL_WINDOW_SECS;

/// China Standard Time: ages and card validity use the civil date in China.
const CST_OFFSET_SECS: i64 = 8 * 3600;

pub(crate) fn err(code: ResultCode, reason: &'static str) -> PlatformError {
    PlatformError::new(code, reason)
}

/// The civil date in China at unix time `now`.
#[must_use]
pub fn china_date(now: u64) -> CivilDate {
    let secs = i64::try_from(now).unwrap_or(i64::MAX - CST_OFFSET_SECS) + CST_OFFSET_SECS;
    // Only a clock beyond the year 9999 fails; clamp rather than panic.
    CivilDate::from_unix_seconds(secs)
        .or_else(|_| CivilDate::new(9999, 12, 31))
        .unwrap_or_else(|_| unreachable!("9999-12-31 is a valid date"))
}

/// A response the platform has signed: status, body, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// An RP registration as an operator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpRegistration {
    pub rp_id: String,
    pub name: String,
    pub role: RpRole,
    pub public_key: Sm2PublicKey,
    pub modes: Vec<AuthMode>,
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
}

/// What one [`Platform::housekeep`] pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub rp_nonces: u64,
    pub challenges: u64,
    pub attempt_budgets: u64,
    pub retired_keys: u64,
}

/// The running platform.
pub struct Platform {
    pub(crate) store: Store,
    pub(crate) config: PlatformConfig,
    pub(crate) master: MasterKey,
    pub(crate) keys: RwLock<Arc<PlatformKeys>>,
    pub(crate) face: Arc<dyn FaceEngine>,
    pub(crate) card_authorities: Vec<Sm2PublicKey>,
    pub(crate) limiter: RateLimiter,
    /// RP request keys already parsed, with their verification tables.
    pub(crate) rp_keys: crate::relying_parties::RpKeyCache,
    /// Per client address: challenges and online enrolment tries.
    pub(crate) clients: RateLimiter,
    /// Counters and histograms for `/metrics`.
    pub metrics: Metrics,
    /// The operator console's registry imports.
    pub(crate) imports: crate::import::ImportJobs,
    pub(crate) import_seq: std::sync::atomic::AtomicU64,
}

impl core::fmt::Debug for Platform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Platform")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Opens the platform over `store`, creating keys on first start.
    pub async fn open(
        store: Store,
        config: PlatformConfig,
        master: MasterKey,
        face: Arc<dyn FaceEngine>,
        card_authorities: Vec<Sm2PublicKey>,
        now: u64,
    ) -> Result<Self> {
        if let Some(token) = &config.admin_token {
            token.check_strength()?;
        }
        let keys = PlatformKeys::load_or_create(&store, &master, now).await?;
        Ok(Self {
            store,
            config,
            master,
            keys: RwLock::new(Arc::new(keys)),
            face,
            // Every upgraded card is checked against these: worth a table each.
            card_authorities: card_authorities
                .into_iter()
                .map(Sm2PublicKey::with_verify_table)
                .collect(),
            limiter: RateLimiter::default(),
            rp_keys: crate::relying_parties::RpKeyCache::default(),
            clients: RateLimiter::default(),
            metrics: Metrics::default(),
            imports: crate::import::ImportJobs::default(),
            import_seq: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The store underneath.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// The keys in force (cheap: an `Arc`).
    #[must_use]
    pub fn keys(&self) -> Arc<PlatformKeys> {
        self.keys
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// One housekeeping pass: forgets RP nonces that can no longer be
    /// replayed (older than twice the allowed clock skew, so their
    /// timestamps fail anyway), deletes expired challenges and retires keys
    /// past their drain window. `wz serve` runs it every minute.
    pub async fn housekeep(&self, now: u64) -> Result<Housekeeping> {
        let nonce_window = self.config.request_skew_secs.saturating_mul(2);
        let done = Housekeeping {
            rp_nonces: self
                .store
                .purge_rp_nonces(now.saturating_sub(nonce_window))
                .await?,
            challenges: self.store.purge_challenges(now).await?,
            attempt_budgets: self
                .store
                .purge_attempts(now.saturating_sub(ENROL_WINDOW_SECS))
                .await?,
            retired_keys: self.store.retire_drained_platform_keys(now).await?,
        };
        if done.retired_keys > 0 {
            self.reload_keys(now).await?;
        }
        Ok(done)
    }

    /// Reloads keys from the store (after a rotation here or on another node).
    pub async fn reload_keys(&self, now: u64) -> Result<()> {
        let keys = Arc::new(PlatformKeys::load_or_create(&self.store, &self.master, now).await?);
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        Ok(())
    }

    /// `GET /v1/keys`.
    #[must_use]
    pub fn keys_response(&self, now: u64) -> KeysResponse {
        KeysResponse {
            keys: self.keys().published().to_vec(),
            server_time: now,
        }
    }

    /// Rotates the signing or encryption key; the old one drains.
    pub async fn rotate_key(&self, usage: wz_proto::api::KeyUsage, actor: &str, now: u64) -> Result<String> {
        let id = PlatformKeys::rotate(
            &self.store,
            &self.master,
            usage,
            actor,
            now,
            self.config.key_drain_secs,
        )
        .await?;
        self.reload_keys(now).await?;
        Ok(id)
    }

    /// Logs and counts a refusal an operator may want to alert on. The RP
    /// id is the claimed one, printed escaped; nothing about a person.
    pub fn security_event(&self, code: ResultCode, rp_id: Option<&str>) {
        tracing::warn!(event = code.name(), rp_id = ?rp_id, "security event");
        self.metrics.security_event(code.name());
    }

    /// Signs a response body for an RP request.
    pub fn sign_reply(
        &self,
        status: u16,
        body: Vec<u8>,
        rp_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<SignedReply> {
        let target = ResponseTarget {
            status,
            rp_id,
            request_nonce: nonce,
            body: &body,
        };
        let auth = ResponseAuth::sign(self.keys().signing.current(), &target, now)?;
        let mut headers: Vec<(&'static str, String)> = auth.to_headers().to_vec();
        headers.push((wz_proto::signed_http::headers::NONCE, nonce.to_owned()));
        Ok(SignedReply {
            status,
            body,
            headers,
        })
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// The audit chain's state: entries, head, and the first break if any.
    pub async fn audit_status(&self) -> Result<wz_proto::admin::AuditStatus> {
        audit_status_of(&self.store).await
    }
}

/// The audit chain's state in the database at `database_url`, checked
/// without the master key: an auditor needs no platform secret for it.
pub async fn audit_status_at(database_url: &str) -> Result<wz_proto::admin::AuditStatus> {
    let store = Store::connect(database_url).await?;
    let status = audit_status_of(&store).await;
    store.close().await;
    status
}

async fn audit_status_of(store: &Store) -> Result<wz_proto::admin::AuditStatus> {
    let r = store.verify_audit().await?;
    Ok(wz_proto::admin::AuditStatus {
        entries: r.entries,
        intact: r.is_intact(),
        head_seq: r.head.map(|h| h.0),
        head_hash: r.head.map(|h| hex::encode(h.1)),
        first_break_seq: r.first_break.map(|b| b.0),
        first_break: r.first_break.map(|b| b.1.to_owned()),
    })
}

/// The invariants a crash must never break, checked over the database at
/// `database_url` (no master key needed): `wz admin check`.
pub async fn consistency_at(database_url: &str) -> Result<wz_store::ConsistencyReport> {
    let store = Store::connect(database_url).await?;
    let report = store.consistency().await;
    store.close().await;
    Ok(report?)
}
