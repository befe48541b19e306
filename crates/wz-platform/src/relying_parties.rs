//! Relying parties: registration, keys, revocation, and authenticating their signed requests.

use wz_crypto::Sm2PublicKey;
use wz_proto::{RequestAuth, RequestTarget, ResultCode};
use wz_store::{AuditNote, EntityStatus, RelyingParty, RpKey};

use crate::Result;

use crate::platform::{Platform, RpRegistration, err};
use crate::verify::factors::check_mode_shape;

/// RP request keys, parsed, by their stored bytes. The database still
/// decides on every request whether the RP and the key are active: this
/// only saves parsing, and lets a key seen before keep its precomputed
/// verification table (a request check is then 2.7 times faster). A key
/// gets its table the second time it is seen, so a one-off key costs
/// nothing extra. Bounded: when full it starts again empty.
#[derive(Default)]
pub(crate) struct RpKeyCache {
    keys: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Sm2PublicKey>>,
}

/// About 50 KiB of table per key: at most 50 MiB.
const RP_KEY_CACHE_MAX: usize = 1024;

impl RpKeyCache {
    pub(crate) fn key(&self, sec1: &[u8]) -> Result<Sm2PublicKey> {
        let cached = self
            .keys
            .lock()
            .map_err(|_| err(ResultCode::InternalError, "key cache poisoned"))?
            .get(sec1)
            .cloned();
        let key = match cached {
            Some(key) if key.has_verify_table() => return Ok(key),
            // Seen before: worth its table now (built outside the lock).
            Some(key) => key.with_verify_table(),
            None => Sm2PublicKey::from_sec1_bytes(sec1)
                .map_err(|_| err(ResultCode::InternalError, "stored RP key is corrupt"))?,
        };
        let mut keys = self
            .keys
            .lock()
            .map_err(|_| err(ResultCode::InternalError, "key cache poisoned"))?;
        if keys.len() >= RP_KEY_CACHE_MAX && !keys.contains_key(sec1) {
            keys.clear();
        }
        keys.insert(sec1.to_vec(), key.clone());
        Ok(key)
    }
}

impl Platform {
    /// Registers a relying party with its first key.
    pub async fn register_rp(&self, reg: &RpRegistration, actor: &str, now: u64) -> Result<RelyingParty> {
        wz_proto::signed_http::check_rp_id(&reg.rp_id)?;
        // The name reaches citizens' screens ("who verified me").
        let name = wz_proto::text::display_text(&reg.name, 100).map_err(|_| {
            err(
                ResultCode::RequestMalformed,
                "RP name must be 1-100 characters, without control or bidi characters",
            )
        })?;
        if reg.modes.is_empty() {
            return Err(err(ResultCode::ModeInvalid, "an RP needs at least one mode"));
        }
        for m in &reg.modes {
            check_mode_shape(*m)?;
        }
        let rp = RelyingParty {
            rp_id: reg.rp_id.clone(),
            name,
            role: reg.role,
            modes: reg.modes.clone(),
            attributes: reg.attributes.clone(),
            rate_per_s: reg.rate_per_s,
            status: EntityStatus::Active,
            created_at: now,
        };
        let key = self.rp_key_row(&reg.rp_id, &reg.public_key, now);
        let detail = format!(
            "rp={} role={} modes={} attrs={} key={}",
            rp.rp_id,
            rp.role.as_str(),
            rp.modes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            rp.attributes
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(","),
            key.key_id
        );
        self.store
            .insert_rp(&rp, &key, &AuditNote::new(actor, "rp.register", detail))
            .await
            .map_err(|e| match e {
                wz_store::StoreError::Conflict(_) => {
                    err(ResultCode::RequestMalformed, "an RP with this id or key exists")
                }
                other => other.into(),
            })?;
        Ok(rp)
    }

    pub(crate) fn rp_key_row(&self, rp_id: &str, key: &Sm2PublicKey, now: u64) -> RpKey {
        RpKey {
            key_id: key.key_id().to_string(),
            rp_id: rp_id.to_owned(),
            public_key: key.to_sec1_bytes().to_vec(),
            status: EntityStatus::Active,
            created_at: now,
            revoked_at: None,
        }
    }

    /// Adds a key to an RP; with `replace`, its other keys are revoked.
    pub async fn add_rp_key(
        &self,
        rp_id: &str,
        key: &Sm2PublicKey,
        replace: bool,
        actor: &str,
        now: u64,
    ) -> Result<()> {
        let row = self.rp_key_row(rp_id, key, now);
        let note = AuditNote::new(
            actor,
            "rp.key.add",
            format!("rp={rp_id} key={} replace={replace}", row.key_id),
        );
        self.store
            .add_rp_key(&row, replace, &note, now)
            .await
            .map_err(|e| match e {
                wz_store::StoreError::NotFound(_) => err(ResultCode::RpUnknown, "no such relying party"),
                wz_store::StoreError::Conflict(_) => {
                    err(ResultCode::RequestMalformed, "key already registered")
                }
                other => other.into(),
            })?;
        Ok(())
    }

    /// Revokes one RP key.
    pub async fn revoke_rp_key(&self, key_id: &str, actor: &str, now: u64) -> Result<()> {
        let note = AuditNote::new(actor, "rp.key.revoke", format!("key={key_id}"));
        if !self.store.revoke_rp_key(key_id, &note, now).await? {
            return Err(err(ResultCode::RpKeyInvalid, "no such active key"));
        }
        Ok(())
    }

    /// Revokes an RP and all its keys.
    pub async fn revoke_rp(&self, rp_id: &str, actor: &str, now: u64) -> Result<()> {
        let note = AuditNote::new(actor, "rp.revoke", format!("rp={rp_id}"));
        if !self.store.revoke_rp(rp_id, &note, now).await? {
            return Err(err(ResultCode::RpUnknown, "no such active relying party"));
        }
        Ok(())
    }

    /// Checks an RP request's signature and freshness (steps 1-4 of a
    /// verification: RP known, key valid, signature, timestamp) and
    /// remembers its nonce. Returns the RP and the key that signed.
    pub async fn authenticate_rp(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<(RelyingParty, Sm2PublicKey)> {
        let outcome = self.authenticate_rp_steps(auth, target, now).await;
        if let Err(e) = &outcome
            && e.code != ResultCode::InternalError
        {
            self.security_event(e.code, Some(&auth.rp_id));
        }
        outcome
    }

    pub(crate) async fn authenticate_rp_steps(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<(RelyingParty, Sm2PublicKey)> {
        let unknown = || {
            err(
                ResultCode::RpUnknown,
                "relying party is not registered or revoked",
            )
        };
        let (rp, key) = match self
            .store
            .rp_and_key(&auth.rp_id, &auth.key_id.to_string())
            .await?
        {
            Some(found) => found,
            // Tell an unknown RP from an unknown key, as the check order says.
            None => {
                let rp = self.store.rp(&auth.rp_id).await?.ok_or_else(unknown)?;
                if rp.status != EntityStatus::Active {
                    return Err(unknown());
                }
                return Err(err(
                    ResultCode::RpKeyInvalid,
                    "key is not an active key of this relying party",
                ));
            }
        };
        if rp.status != EntityStatus::Active {
            return Err(unknown());
        }
        if key.status != EntityStatus::Active {
            return Err(err(
                ResultCode::RpKeyInvalid,
                "key is not an active key of this relying party",
            ));
        }
        let public = self.rp_keys.key(&key.public_key)?;
        auth.verify_signature(&public, target)?;
        auth.check_timestamp(now, self.config.request_skew_secs)?;
        Ok((rp, public))
    }

    /// Every relying party, as the operator lists them.
    pub async fn relying_parties(&self) -> Result<Vec<wz_proto::admin::RpSummary>> {
        Ok(self
            .store
            .list_rps()
            .await?
            .into_iter()
            .map(|rp| wz_proto::admin::RpSummary {
                role: rp.role.as_str().to_owned(),
                active: rp.status == EntityStatus::Active,
                rp_id: rp.rp_id,
                name: rp.name,
                modes: rp.modes,
                attributes: rp.attributes,
                rate_per_s: rp.rate_per_s,
            })
            .collect())
    }
}
