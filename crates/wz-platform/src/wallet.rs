//! The wallet endpoints: device-signed status, history, suspension and resumption.

use wz_crypto::Sm2PublicKey;
use wz_proto::api::{CredentialStatus, HistoryEntry, ResumeRequest, SyncResponse};
use wz_proto::{
    AuthMode, CredentialCert, CredentialId, CredentialPin, Level, RequestAuth, RequestTarget, ResultCode,
};
use wz_store::{AuditNote, CredentialRow};

use crate::Result;
use wz_proto::api::ChallengePurpose;

use crate::platform::{Platform, err};

impl Platform {
    /// Authenticates a wallet request: signed like an RP request, with the
    /// credential id (hex) as the RP id and the device key as the key.
    pub async fn authenticate_wallet(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<CredentialRow> {
        let cred_id: CredentialId = auth
            .rp_id
            .parse()
            .map_err(|_| err(ResultCode::CredentialNotFound, "no such credential"))?;
        let cred = self
            .store
            .credential(&cred_id)
            .await?
            .ok_or(err(ResultCode::CredentialNotFound, "no such credential"))?;
        let device = Sm2PublicKey::from_sec1_bytes(&cred.device_public_key)
            .map_err(|_| err(ResultCode::InternalError, "stored device key is corrupt"))?;
        auth.verify_signature(&device, target).map_err(|e| match e.code {
            ResultCode::RpKeyInvalid | ResultCode::RpSignatureInvalid => {
                err(ResultCode::QrSignatureInvalid, "device signature does not verify")
            }
            _ => e.into(),
        })?;
        auth.check_timestamp(now, self.config.request_skew_secs)?;
        if !self
            .store
            .remember_rp_nonce(&format!("wallet:{}", auth.rp_id), &auth.nonce, now)
            .await?
        {
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        Ok(cred)
    }

    /// What the wallet learns at sync.
    #[must_use]
    pub fn wallet_status(&self, cred: &CredentialRow, now: u64) -> SyncResponse {
        let status = if cred.status == CredentialStatus::Active && now >= cred.not_after {
            CredentialStatus::Expired
        } else {
            cred.status
        };
        SyncResponse {
            cred_id: cred.cred_id,
            status,
            server_time: now,
        }
    }

    /// "Who verified me", for a live credential's citizen.
    pub async fn wallet_history(&self, cred: &CredentialRow, limit: u32) -> Result<Vec<HistoryEntry>> {
        if !matches!(
            cred.status,
            CredentialStatus::Active | CredentialStatus::Suspended
        ) {
            return Err(err(cred.status.result_code(), "credential is no longer live"));
        }
        let rows = self.store.history(cred.citizen_id, limit.min(500)).await?;
        rows.into_iter()
            .map(|r| {
                Ok(HistoryEntry {
                    rp_name: r.rp_name,
                    time: r.time,
                    mode: AuthMode::from_bits(r.mode).unwrap_or(AuthMode::QR),
                    result: ResultCode::from_code(r.result).unwrap_or(ResultCode::InternalError),
                })
            })
            .collect()
    }

    /// The citizen suspends their own credential.
    pub async fn wallet_suspend(&self, cred: &CredentialRow, now: u64) -> Result<SyncResponse> {
        if !self
            .store
            .transition_credential(
                &cred.cred_id,
                CredentialStatus::Active,
                CredentialStatus::Suspended,
                &AuditNote::new("citizen", "credential.suspend", format!("cred={}", cred.cred_id)),
                now,
            )
            .await?
        {
            return Err(err(cred.status.result_code(), "credential is not active"));
        }
        Ok(SyncResponse {
            cred_id: cred.cred_id,
            status: CredentialStatus::Suspended,
            server_time: now,
        })
    }

    /// `POST /v1/wallet/resume`: the citizen lifts their own suspension.
    /// A suspension guards against a lost or lent phone, so the device
    /// signature alone is not enough: a live face must match the registry
    /// and, for an upgraded credential, the credential PIN must be right
    /// (wrong PINs count toward the lockout). Audited.
    pub async fn wallet_resume(
        &self,
        cred: &CredentialRow,
        req: &ResumeRequest,
        now: u64,
    ) -> Result<SyncResponse> {
        if cred.status != CredentialStatus::Suspended {
            let code = if cred.status == CredentialStatus::Active {
                ResultCode::RequestMalformed
            } else {
                cred.status.result_code()
            };
            return Err(err(code, "only a suspended credential can be resumed"));
        }
        // Presence of every factor first, as at verification.
        if req.face_frames.is_empty() {
            return Err(err(ResultCode::ModeDataMissing, "resuming needs face frames"));
        }
        if cred.level == Level::Upgraded && req.pin_block.is_none() {
            return Err(err(
                ResultCode::ModeDataMissing,
                "resuming an upgraded credential needs the credential PIN",
            ));
        }
        let (ch, actions) = self
            .take_challenge(&req.challenge_id, ChallengePurpose::Resume, now)
            .await?;
        let record = self.store.registry_by_id(cred.citizen_id).await?.ok_or(err(
            ResultCode::InternalError,
            "credential without a registry record",
        ))?;
        let capture = self.capture_face(&req.face_frames, actions).await?;
        self.match_face(&record, &capture)?;
        if let (Level::Upgraded, Some(block)) = (cred.level, &req.pin_block) {
            let nonce: [u8; 16] = ch
                .nonce
                .as_slice()
                .try_into()
                .map_err(|_| err(ResultCode::InternalError, "stored challenge is corrupt"))?;
            let keys = self.keys();
            let key_id = keys.encryption.current_id();
            let pin = CredentialPin::open(&block.0, &nonce, &keys.encryption, &key_id)?;
            drop(keys);
            self.check_pin(cred.citizen_id, pin, now).await?;
        }
        if !self
            .store
            .transition_credential(
                &cred.cred_id,
                CredentialStatus::Suspended,
                CredentialStatus::Active,
                &AuditNote::new("citizen", "credential.resume", format!("cred={}", cred.cred_id)),
                now,
            )
            .await?
        {
            return Err(err(
                ResultCode::CredentialSuspended,
                "credential changed meanwhile",
            ));
        }
        Ok(SyncResponse {
            cred_id: cred.cred_id,
            status: CredentialStatus::Active,
            server_time: now,
        })
    }

    /// The credential certificate a wallet holds, checked against our keys.
    pub fn check_certificate(&self, bytes: &[u8]) -> Result<CredentialCert> {
        let cert = CredentialCert::decode(bytes)?;
        let keys = self.keys();
        let issuer = keys
            .signing
            .get(&cert.body.issuer_key_id)
            .map_err(|_| err(ResultCode::CredentialInvalid, "issued under an unknown key"))?;
        cert.verify(issuer.public_key())?;
        Ok(cert)
    }
}
