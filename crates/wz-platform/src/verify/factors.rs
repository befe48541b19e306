//! The factors of a verification: gathered (present and well-formed) first, then evaluated.

use wz_proto::api::{Bytes, IdentityItems, VerifyRequest};
use wz_proto::{AuthMode, CredentialId, CredentialPin, Level, QrBody, QrEnvelope, ResultCode, SignedCard};
use wz_store::{RegistryRecord, RelyingParty};

use crate::Result;
use crate::registry::{Person, blind_index, open_person};
use wz_proto::api::ChallengePurpose;

use crate::platform::{Platform, china_date, err};

/// What the factors of a verification established.
pub(crate) struct Subject {
    pub(crate) record: RegistryRecord,
    pub(crate) level: Option<Level>,
    pub(crate) cred_id: Option<CredentialId>,
    /// The QR's counter, accepted when the verdict is recorded.
    pub(crate) qr_counter: Option<u32>,
}

/// The factors a verify request carries for its mode, each present and
/// well-formed (but not yet evaluated).
pub(crate) struct Factors<'a> {
    pub(crate) qr: Option<QrEnvelope>,
    pub(crate) items: Option<&'a IdentityItems>,
    pub(crate) card: Option<SignedCard>,
    pub(crate) pin_block: Option<&'a [u8]>,
    pub(crate) face: Option<(&'a [Bytes], &'a str)>,
}

impl<'a> Factors<'a> {
    fn gather(req: &'a VerifyRequest) -> Result<Self> {
        let mode = req.mode;
        let missing = |what| err(ResultCode::ModeDataMissing, what);
        let qr = if mode.contains(AuthMode::QR) {
            let text = req.qr.as_deref().ok_or(missing("mode needs the QR text"))?;
            Some(QrEnvelope::parse(text)?)
        } else {
            None
        };
        let items = if mode.contains(AuthMode::TWO_ITEMS) || mode.contains(AuthMode::FOUR_ITEMS) {
            let items = req.items.as_ref().ok_or(missing("mode needs identity items"))?;
            if mode.contains(AuthMode::FOUR_ITEMS) && items.card_valid_from.is_none() {
                return Err(missing("four items need the card validity start"));
            }
            Some(items)
        } else {
            None
        };
        let card = if mode.contains(AuthMode::CARD) {
            let bytes = req.card_data.as_ref().ok_or(missing("mode needs card data"))?;
            Some(SignedCard::decode(&bytes.0)?)
        } else {
            None
        };
        let pin_block = if mode.contains(AuthMode::PIN) {
            Some(
                req.pin_block
                    .as_ref()
                    .ok_or(missing("mode needs the PIN block"))?
                    .0
                    .as_slice(),
            )
        } else {
            None
        };
        let face = if mode.contains(AuthMode::FACE) {
            if req.face_frames.is_empty() {
                return Err(missing("mode needs face frames"));
            }
            // Liveness is required on every face path: the terminal fetched
            // a challenge and the frames show its actions.
            let challenge_id = req
                .challenge_id
                .as_deref()
                .ok_or(missing("face checks need a liveness challenge (purpose verify)"))?;
            Some((req.face_frames.as_slice(), challenge_id))
        } else {
            None
        };
        Ok(Self {
            qr,
            items,
            card,
            pin_block,
            face,
        })
    }
}

/// The credential level a mode needs, if any. The credential PIN is set at
/// a trusted terminal and belongs to the upgraded credential, so every
/// mode with the PIN (0x08) needs an upgraded credential: a lightweight
/// one, even the same citizen's after an online re-enrolment, never
/// answers a PIN mode. Other modes accept either level (the verdict says
/// which, for the RP to judge).
#[must_use]
pub fn required_level(mode: AuthMode) -> Option<Level> {
    mode.contains(AuthMode::PIN).then_some(Level::Upgraded)
}

/// Modes the platform can serve: at least one identifying factor; PIN only with QR.
pub(crate) fn check_mode_shape(mode: AuthMode) -> Result<()> {
    let identifies = [
        AuthMode::QR,
        AuthMode::CARD,
        AuthMode::TWO_ITEMS,
        AuthMode::FOUR_ITEMS,
    ]
    .iter()
    .any(|f| mode.contains(*f));
    if !identifies {
        return Err(err(
            ResultCode::ModeInvalid,
            "mode has no factor that identifies the citizen",
        ));
    }
    if mode.contains(AuthMode::PIN) && !mode.contains(AuthMode::QR) {
        return Err(err(
            ResultCode::ModeInvalid,
            "the PIN is checked together with the QR",
        ));
    }
    Ok(())
}

pub(crate) fn same_citizen(prev: Option<Subject>, record: RegistryRecord) -> Result<Subject> {
    match prev {
        Some(s) if s.record.citizen_id != record.citizen_id => Err(err(
            ResultCode::FourItemsMismatch,
            "factors name different citizens",
        )),
        Some(s) => Ok(s),
        None => Ok(Subject {
            record,
            level: None,
            cred_id: None,
            qr_counter: None,
        }),
    }
}

pub(crate) fn items_match(items: &IdentityItems, person: &Person, four: bool) -> bool {
    let name_ok = items.name.trim() == person.name && items.id_number == person.id_number;
    if !four {
        return name_ok;
    }
    name_ok
        && items.card_valid_from == Some(person.card_valid_from)
        && items.card_valid_to == person.card_valid_to
}

/// What step 3 found: the mode asked (if the body parsed), and the subject
/// or the first failure.
pub(crate) struct Evaluation {
    pub(crate) mode: Option<AuthMode>,
    pub(crate) outcome: Result<Subject>,
    /// Who the request turned out to concern, even if a later factor
    /// failed: a failed attempt belongs in that citizen's history too.
    pub(crate) seen: Option<(i64, Option<CredentialId>)>,
}

impl Evaluation {
    /// The citizen and credential the verification is recorded against.
    pub(crate) fn concerns(&self) -> (Option<i64>, Option<CredentialId>) {
        match &self.outcome {
            Ok(s) => (Some(s.record.citizen_id), s.cred_id),
            Err(_) => self.seen.map_or((None, None), |(c, cred)| (Some(c), cred)),
        }
    }
}

impl Platform {
    /// Step 3: the request body parsed, its mode registered for the RP,
    /// and every factor the mode needs checked.
    pub(crate) async fn evaluate(&self, rp: &RelyingParty, body: &[u8], now: u64) -> Evaluation {
        let mut seen = None;
        let (mode, outcome) = match serde_json::from_slice::<VerifyRequest>(body) {
            Err(_) => (
                None,
                Err(err(
                    ResultCode::RequestMalformed,
                    "body is not a valid verify request",
                )),
            ),
            Ok(req) if !rp.modes.contains(&req.mode) => (
                Some(req.mode),
                Err(err(
                    ResultCode::ModeNotAllowed,
                    "mode is not registered for this RP",
                )),
            ),
            Ok(req) => (Some(req.mode), self.check_factors(&req, now, &mut seen).await),
        };
        if let Err(e) = &outcome
            && matches!(e.code, ResultCode::InternalError | ResultCode::Unavailable)
        {
            tracing::warn!(code = %e.code, reason = e.reason, rp = %rp.rp_id, "verification could not complete");
        }
        Evaluation { mode, outcome, seen }
    }

    pub(crate) async fn check_factors(
        &self,
        req: &VerifyRequest,
        now: u64,
        seen: &mut Option<(i64, Option<CredentialId>)>,
    ) -> Result<Subject> {
        let mode = req.mode;
        check_mode_shape(mode)?;
        let factors = Factors::gather(req)?;
        let keys = self.keys();

        // Every factor is present and well-formed; the live frames are
        // judged next, still before any identity factor is evaluated, so
        // neither a missing frame nor a failed liveness check says whether
        // the items matched.
        let capture = match &factors.face {
            Some((frames, challenge_id)) => {
                let (_, actions) = self
                    .take_challenge(challenge_id, ChallengePurpose::Verify, now)
                    .await?;
                Some(self.capture_face(frames, actions).await?)
            }
            None => None,
        };

        let mut subject: Option<Subject> = None;
        let mut qr: Option<(QrBody, wz_crypto::KeyId)> = None;
        if let Some(envelope) = &factors.qr {
            let (s, body, key_id) = self.open_qr(envelope, now, seen).await?;
            subject = Some(s);
            qr = Some((body, key_id));
        }

        // When the items alone say who is claimed and a face must confirm
        // it, a wrong name and a wrong face get one answer: otherwise an RP
        // with any live face could look up whether a name fits a number.
        let items_identify = subject.is_none() && !mode.contains(AuthMode::CARD) && capture.is_some();
        if let Some(items) = factors.items {
            let four = mode.contains(AuthMode::FOUR_ITEMS);
            let code = if items_identify {
                ResultCode::IdentityNotConfirmed
            } else if four {
                ResultCode::FourItemsMismatch
            } else {
                ResultCode::TwoItemsMismatch
            };
            // Unknown numbers and wrong names get the same answer: no existence oracle.
            let record = self
                .store
                .registry_by_index(&blind_index(&keys, &items.id_number))
                .await?
                .ok_or(err(code, "items do not match the registry"))?;
            let person = open_person(&keys, &record)?;
            if !items_match(items, &person, four) {
                return Err(err(code, "items do not match the registry"));
            }
            seen.get_or_insert((record.citizen_id, None));
            subject = Some(same_citizen(subject, record)?);
        }

        if let Some(card) = factors.card {
            let record = self.check_signed_card(&card, now).await?;
            seen.get_or_insert((record.citizen_id, None));
            subject = Some(same_citizen(subject, record)?);
        }

        let subject = subject.ok_or(err(ResultCode::ModeInvalid, "mode does not identify the citizen"))?;

        if let Some(needed) = required_level(mode)
            && subject.level != Some(needed)
        {
            return Err(err(
                ResultCode::CredentialLevelInsufficient,
                "this mode needs an upgraded credential",
            ));
        }
        if let Some(block) = factors.pin_block {
            let (body, key_id) = qr.ok_or(err(ResultCode::ModeInvalid, "PIN is checked with the QR"))?;
            let challenge = wz_proto::pin::challenge_for_qr(&body);
            // Sealed by the wallet (bound to the QR body) or typed on the
            // terminal's PIN pad (bound to the QR text the terminal scanned).
            let pin = CredentialPin::open(block, &challenge, &keys.encryption, &key_id).or_else(|_| {
                let text = wz_proto::pin::challenge_for_qr_text(req.qr.as_deref().unwrap_or_default());
                CredentialPin::open(block, &text, &keys.encryption, &key_id)
            })?;
            self.check_pin(subject.record.citizen_id, pin, now).await?;
        }

        if let Some(capture) = &capture {
            self.match_face(&subject.record, capture).map_err(|e| {
                if items_identify && e.code == ResultCode::FaceMismatch {
                    err(ResultCode::IdentityNotConfirmed, "identity is not confirmed")
                } else {
                    e
                }
            })?;
        }
        Ok(subject)
    }

    /// Decodes and checks card data; returns the matching registry record and the card.
    pub(crate) async fn check_card(&self, bytes: &[u8], now: u64) -> Result<(RegistryRecord, SignedCard)> {
        let card = SignedCard::decode(bytes)?;
        let record = self.check_signed_card(&card, now).await?;
        Ok((record, card))
    }

    /// Checks a decoded card: its authority, validity and registry entry.
    pub(crate) async fn check_signed_card(&self, card: &SignedCard, now: u64) -> Result<RegistryRecord> {
        let authority = self
            .card_authorities
            .iter()
            .find(|k| k.key_id() == card.authority_key_id)
            .ok_or(err(
                ResultCode::CardDataInvalid,
                "card signed by an unknown authority",
            ))?;
        card.verify(authority)?;
        card.check_validity(china_date(now))?;
        let keys = self.keys();
        let record = self
            .store
            .registry_by_index(&blind_index(&keys, &card.data.id_number))
            .await?
            .ok_or(err(
                ResultCode::RegistryRecordNotFound,
                "card holder is not in the registry",
            ))?;
        let person = open_person(&keys, &record)?;
        if person.name != card.data.name
            || person.card_valid_from != card.data.valid_from
            || person.card_valid_to != card.data.valid_to
        {
            // An older card of the same person, or a forged one.
            return Err(err(
                ResultCode::CardDataInvalid,
                "card is not the one the registry lists",
            ));
        }
        Ok(record)
    }
}
