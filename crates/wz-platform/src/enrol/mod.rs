//! Enrolment: liveness challenges, device keys, and issuing a credential.

pub(crate) mod light;
mod upgraded;

use std::net::IpAddr;

use wz_crypto::Sm2PublicKey;
use wz_proto::api::{Bytes, Challenge, EnrolResponse, LivenessAction, proof_of_possession_input};
use wz_proto::{CredentialBody, CredentialId, Level, ResultCode};
use wz_store::{AuditNote, ChallengeRow, NewCredential, RegistryRecord};

use crate::Result;
use crate::ratelimit::client_key;
use wz_proto::api::ChallengePurpose;

use crate::platform::{Platform, err};

pub(crate) fn random_actions(supported: &[LivenessAction]) -> Result<Vec<LivenessAction>> {
    // Two distinct actions the engine can check, in random order (a
    // Fisher-Yates shuffle from OS randomness).
    let mut pool = supported.to_vec();
    let r = wz_crypto::random_array::<4>()?;
    for i in (1..pool.len()).rev() {
        let j = usize::from(r.get(i).copied().unwrap_or(0)) % (i + 1);
        pool.swap(i, j);
    }
    pool.truncate(2);
    Ok(pool)
}

impl Platform {
    /// `POST /v1/challenges`: a one-time challenge with random liveness actions.
    /// Limited per client address and purpose, and capped in all.
    pub async fn new_challenge(
        &self,
        purpose: ChallengePurpose,
        client: IpAddr,
        now_ms: u64,
    ) -> Result<Challenge> {
        let now = now_ms / 1000;
        let key = format!("challenge {} {}", purpose.as_str(), client_key(client));
        if !self
            .clients
            .allow_per_minute(&key, self.config.challenges_per_client_per_min, now_ms)
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many challenges from this client",
            ));
        }
        let nonce = wz_crypto::random_array::<16>()?;
        let pool: Vec<LivenessAction> = self
            .face
            .supported_actions()
            .iter()
            .filter(|a| {
                self.config
                    .liveness_actions
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(a))
            })
            .copied()
            .collect();
        if pool.is_empty() && !self.config.demo_liveness_waived {
            return Err(err(
                ResultCode::Unavailable,
                "no liveness action is both configured and checkable",
            ));
        }
        let actions = if self.config.demo_liveness_waived {
            Vec::new()
        } else {
            random_actions(&pool)?
        };
        let row = ChallengeRow {
            challenge_id: hex::encode(wz_crypto::random_array::<16>()?),
            nonce: nonce.to_vec(),
            purpose: purpose.as_str().to_owned(),
            actions: actions.iter().map(|a| a.name()).collect::<Vec<_>>().join(","),
            expires_at: now + self.config.challenge_ttl_secs,
        };
        if !self
            .store
            .insert_challenge_capped(&row, self.config.max_outstanding_challenges, now)
            .await?
        {
            self.security_event(ResultCode::RateLimited, None);
            return Err(err(
                ResultCode::RateLimited,
                "too many challenges are outstanding; try again shortly",
            ));
        }
        Ok(Challenge {
            challenge_id: row.challenge_id,
            nonce: hex::encode(nonce),
            actions,
            expires_at: row.expires_at,
        })
    }

    pub(crate) async fn take_challenge(
        &self,
        id: &str,
        purpose: ChallengePurpose,
        now: u64,
    ) -> Result<(ChallengeRow, Vec<LivenessAction>)> {
        let ch = self
            .store
            .take_challenge(id, now)
            .await?
            .filter(|c| c.purpose == purpose.as_str())
            .ok_or(err(
                ResultCode::RequestExpired,
                "challenge is unknown, used or expired",
            ))?;
        let actions = ch
            .actions
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                LivenessAction::parse(s).ok_or(err(ResultCode::InternalError, "stored challenge is corrupt"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((ch, actions))
    }

    pub(crate) fn device_key(ch: &ChallengeRow, key_hex: &str, pop_hex: &str) -> Result<Sm2PublicKey> {
        let bad = || {
            err(
                ResultCode::RequestMalformed,
                "device key or proof of possession is invalid",
            )
        };
        let key_bytes = hex::decode(key_hex).map_err(|_| bad())?;
        let key = Sm2PublicKey::from_sec1_bytes(&key_bytes).map_err(|_| bad())?;
        let sig = hex::decode(pop_hex)
            .ok()
            .and_then(|s| wz_crypto::Sm2Signature::from_bytes(&s).ok())
            .ok_or_else(bad)?;
        key.verify(&proof_of_possession_input(&ch.nonce, &key.to_sec1_bytes()), &sig)
            .map_err(|_| bad())?;
        Ok(key)
    }

    /// Issues a credential to a registry record, superseding any earlier
    /// one. Callers must already have established who the citizen is (the
    /// enrolment flows do; so does `wz bench`, which seeds its own registry).
    pub async fn issue(
        &self,
        record: &RegistryRecord,
        level: Level,
        device: &Sm2PublicKey,
        pin_hash: Option<String>,
        now: u64,
    ) -> Result<EnrolResponse> {
        let keys = self.keys();
        let signer = keys.signing.current();
        let cert = CredentialBody {
            cred_id: CredentialId::random()?,
            level,
            device_public_key: device.clone(),
            not_before: now,
            not_after: now + self.config.credential_validity_secs,
            issuer_key_id: signer.key_id(),
        }
        .sign(signer)?;
        let encoded = cert.encode();
        let level_name = level.name();
        let note = AuditNote::new(
            "platform",
            "credential.issue",
            format!("cred={} level={level_name}", cert.body.cred_id),
        );
        self.store
            .issue_credential(
                &NewCredential {
                    cred_id: cert.body.cred_id,
                    citizen_id: record.citizen_id,
                    level,
                    device_public_key: device.to_sec1_bytes().to_vec(),
                    certificate: encoded.clone(),
                    not_before: cert.body.not_before,
                    not_after: cert.body.not_after,
                },
                pin_hash.as_deref(),
                &note,
                now,
            )
            .await
            .map_err(|e| match e {
                wz_store::StoreError::Conflict("upgraded credential") => err(
                    ResultCode::UpgradedCredentialHeld,
                    "an upgraded credential is held: re-enrol at a trusted terminal",
                ),
                other => other.into(),
            })?;
        self.metrics.enrolment(level_name, "pass");
        Ok(EnrolResponse {
            credential: Bytes(encoded),
            level,
            server_time: now,
        })
    }
}
