//! Steps 4 and 5 of a verification: the verdict (with the released
//! attributes on a pass), recorded for the citizen's history, then signed.

use wz_crypto::Sm2PublicKey;
use wz_proto::api::{Attribute, VerifyVerdict};
use wz_proto::{AuthMode, RequestAuth, ResultCode};
use wz_store::{RelyingParty, VerificationRecord};

use crate::Result;
use crate::platform::{Platform, SignedReply, err};
use crate::registry::pseudonym;
use crate::verify::factors::Evaluation;

impl Platform {
    /// The verdict for an evaluation: on a pass, the level, the RP-scoped
    /// pseudonym and the attributes it is entitled to; on a failure, only
    /// the code.
    pub(crate) fn verdict(
        &self,
        rp: &RelyingParty,
        rp_key: &Sm2PublicKey,
        evaluation: &Evaluation,
        now: u64,
    ) -> Result<VerifyVerdict> {
        let serial = hex::encode(wz_crypto::random_array::<16>()?);
        let mode = evaluation.mode.unwrap_or(AuthMode::QR);
        Ok(match &evaluation.outcome {
            Ok(subject) => {
                let (released, attributes) = self.release(rp, rp_key, &subject.record, now)?;
                VerifyVerdict {
                    serial,
                    result: ResultCode::Pass,
                    result_code: 0,
                    mode,
                    level: subject.level,
                    time: now,
                    pseudonym: Some(pseudonym(
                        &self.keys(),
                        &subject.record.record.id_index,
                        &rp.rp_id,
                    )),
                    released,
                    attributes,
                }
            }
            Err(e) => VerifyVerdict {
                serial,
                result: e.code,
                result_code: e.code.code(),
                mode,
                level: None,
                time: now,
                pseudonym: None,
                released: Vec::new(),
                attributes: None,
            },
        })
    }

    /// Stores the verification (for the citizen's history and idempotent
    /// retries) and, on a QR pass, accepts the QR's counter in the same
    /// transaction; counts it; signs the verdict bound to the request
    /// nonce. A pass whose counter another request accepted first (two
    /// uses of one QR racing) becomes `qr_replayed`.
    pub(crate) async fn record_and_sign(
        &self,
        rp: &RelyingParty,
        rp_key: &Sm2PublicKey,
        auth: &RequestAuth,
        request_hash: [u8; 32],
        evaluation: Evaluation,
        now: u64,
    ) -> Result<SignedReply> {
        let mut evaluation = evaluation;
        // The QR path reads the registry record without its photo.
        if rp.attributes.contains(&Attribute::Photo)
            && let Ok(subject) = &mut evaluation.outcome
            && subject.record.record.photo.is_none()
            && let Some(full) = self.store.registry_by_id(subject.record.citizen_id).await?
        {
            subject.record = full;
        }
        let (verdict, body) = loop {
            let verdict = self.verdict(rp, rp_key, &evaluation, now)?;
            let body = serde_json::to_vec(&verdict)
                .map_err(|_| err(ResultCode::InternalError, "verdict encoding"))?;
            let accept = evaluation
                .outcome
                .as_ref()
                .ok()
                .and_then(|s| Some((s.cred_id?, s.qr_counter?)));
            let (citizen_id, cred_id) = evaluation.concerns();
            let record = VerificationRecord {
                serial: verdict.serial.clone(),
                rp_id: rp.rp_id.clone(),
                request_nonce: auth.nonce.clone(),
                request_hash,
                citizen_id,
                cred_id,
                mode: verdict.mode.bits(),
                result: verdict.result.code(),
                time: now,
                response: body.clone(),
            };
            if self.store.record_verification(&record, accept).await? {
                break (verdict, body);
            }
            // Lost the race for the counter: record the replay instead.
            evaluation = Evaluation {
                mode: evaluation.mode,
                outcome: Err(err(ResultCode::QrReplayed, "QR counter was already used")),
                seen: citizen_id.map(|c| (c, cred_id)),
            };
        };
        self.metrics
            .verification(verdict.result.name(), &verdict.mode.to_string());
        if matches!(
            verdict.result,
            ResultCode::QrReplayed | ResultCode::QrSignatureInvalid | ResultCode::RequestReplayed
        ) {
            self.security_event(verdict.result, Some(&rp.rp_id));
        }
        self.sign_reply(200, body, &rp.rp_id, &auth.nonce, now)
    }
}
