//! The credential PIN check, with the lockout reserved before the slow hash.

use wz_crypto::PinHash;
use wz_proto::{CredentialPin, ResultCode};

use crate::Result;

use crate::platform::{Platform, err};

impl Platform {
    pub(crate) async fn check_pin(&self, citizen_id: i64, pin: CredentialPin, now: u64) -> Result<()> {
        // The try is counted (and the lock set at the limit) before the slow
        // hash, so concurrent guesses cannot check more than the limit.
        let state = self
            .store
            .reserve_pin_attempt(citizen_id, now, self.config.pin_lock_after, |n| {
                self.config.pin_backoff(n)
            })
            .await
            .map_err(|e| match e {
                wz_store::StoreError::NotFound(_) => err(
                    ResultCode::PinWrong,
                    "no credential PIN is set (upgraded credential needed)",
                ),
                other => other.into(),
            })?
            .ok_or(err(ResultCode::PinLocked, "PIN is locked"))?;
        let hash = PinHash::from_phc_string(&state.pin_hash)
            .map_err(|_| err(ResultCode::InternalError, "stored PIN hash is corrupt"))?;
        let pepper = self.pin_pepper();
        let ok = tokio::task::spawn_blocking(move || hash.verify(pin.expose(), Some(&pepper)))
            .await
            .map_err(|_| err(ResultCode::InternalError, "PIN task failed"))??;
        if ok {
            self.store.reset_pin_failures(citizen_id, now).await?;
            return Ok(());
        }
        if state.locked_until > now {
            self.security_event(ResultCode::PinLocked, None);
            Err(err(
                ResultCode::PinLocked,
                "PIN is now locked after too many wrong tries",
            ))
        } else {
            Err(err(ResultCode::PinWrong, "PIN is wrong"))
        }
    }

    /// Kept out of the database: mixed into every PIN hash.
    pub(crate) fn pin_pepper(&self) -> Vec<u8> {
        wz_crypto::hmac_sm3(&self.keys().index, b"wz-pin-pepper-v1").to_vec()
    }
}
