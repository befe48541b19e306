//! The QR factor: open → device signature → credential status → freshness
//! → counter, in that order. The counter is accepted with the verdict.

use wz_crypto::{KeyId, Sm2PublicKey};
use wz_proto::api::CredentialStatus;
use wz_proto::{CredentialId, QrBody, QrEnvelope, ResultCode};

use crate::Result;
use crate::platform::{Platform, err};
use crate::verify::factors::Subject;

impl Platform {
    /// Opens a QR with the platform's keys and checks it; `seen` learns the
    /// citizen as soon as the device signature verifies. Returns the
    /// subject, the body (for the PIN block's binding) and the key that
    /// opened it.
    pub(crate) async fn open_qr(
        &self,
        envelope: &QrEnvelope,
        now: u64,
        seen: &mut Option<(i64, Option<CredentialId>)>,
    ) -> Result<(Subject, QrBody, KeyId)> {
        let signed = envelope.open(&self.keys().encryption)?;
        let (cred, record) = self
            .store
            .credential_with_citizen(&signed.body.cred_id)
            .await?
            .ok_or(err(ResultCode::CredentialNotFound, "no such credential"))?;
        let device = Sm2PublicKey::from_sec1_bytes(&cred.device_public_key)
            .map_err(|_| err(ResultCode::InternalError, "stored device key is corrupt"))?;
        let body = signed.verify(&device)?;
        // The device signed it: this attempt concerns this citizen.
        *seen = Some((cred.citizen_id, Some(cred.cred_id)));
        if cred.status != CredentialStatus::Active {
            return Err(err(cred.status.result_code(), "credential is not active"));
        }
        if now >= cred.not_after {
            return Err(err(ResultCode::CredentialExpired, "credential validity is over"));
        }
        body.check_freshness(now, self.config.qr_freshness_secs)?;
        // Checked here, accepted only with the verdict (one transaction, see
        // `record_and_sign`): a request that loses the race gets qr_replayed.
        if i64::from(body.counter) <= cred.last_counter {
            return Err(err(ResultCode::QrReplayed, "QR counter was already used"));
        }
        let subject = Subject {
            record,
            level: Some(cred.level),
            cred_id: Some(cred.cred_id),
            qr_counter: Some(body.counter),
        };
        Ok((subject, body, signed.platform_key_id))
    }
}
