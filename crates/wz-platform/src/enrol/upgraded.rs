//! `POST /v1/enrol/upgraded`: card chip + live face + credential PIN, at a trusted terminal.

use wz_crypto::PinHash;
use wz_proto::api::{EnrolResponse, UpgradedEnrolRequest};
use wz_proto::{CredentialPin, Level, RequestAuth, RequestTarget, ResultCode};
use wz_store::{RelyingParty, RpRole};

use crate::Result;
use wz_proto::api::ChallengePurpose;

use crate::platform::{Platform, SignedReply, err};

impl Platform {
    /// `POST /v1/enrol/upgraded` as it arrives: authenticates the terminal's
    /// signed request, remembers its nonce, enrols, and signs the answer.
    pub async fn enrol_upgraded_signed(
        &self,
        auth: &RequestAuth,
        target: &RequestTarget<'_>,
        now: u64,
    ) -> Result<SignedReply> {
        let (terminal, _) = self.authenticate_rp(auth, target, now).await?;
        if !self
            .store
            .remember_rp_nonce(&terminal.rp_id, &auth.nonce, now)
            .await?
        {
            return Err(err(ResultCode::RequestReplayed, "request nonce was seen before"));
        }
        let req: UpgradedEnrolRequest = serde_json::from_slice(target.body).map_err(|_| {
            err(
                ResultCode::RequestMalformed,
                "body is not a valid upgraded enrolment request",
            )
        })?;
        let resp = self.enrol_upgraded(&terminal, &req, now).await?;
        let body =
            serde_json::to_vec(&resp).map_err(|_| err(ResultCode::InternalError, "response encoding"))?;
        self.sign_reply(200, body, &terminal.rp_id, &auth.nonce, now)
    }

    /// Upgraded enrolment for an already authenticated trusted terminal.
    pub async fn enrol_upgraded(
        &self,
        terminal: &RelyingParty,
        req: &UpgradedEnrolRequest,
        now: u64,
    ) -> Result<EnrolResponse> {
        let result = self.enrol_upgraded_inner(terminal, req, now).await;
        if let Err(e) = &result {
            self.metrics.enrolment("upgraded", e.code.name());
        }
        result
    }

    pub(crate) async fn enrol_upgraded_inner(
        &self,
        terminal: &RelyingParty,
        req: &UpgradedEnrolRequest,
        now: u64,
    ) -> Result<EnrolResponse> {
        if terminal.role != RpRole::TrustedTerminal {
            return Err(err(
                ResultCode::RoleNotAllowed,
                "only trusted terminals issue upgraded credentials",
            ));
        }
        let (ch, actions) = self
            .take_challenge(&req.challenge_id, ChallengePurpose::EnrolUpgraded, now)
            .await?;
        let device = Self::device_key(&ch, &req.device_public_key, &req.proof_of_possession)?;
        let (record, _card) = self.check_card(&req.card_data.0, now).await?;
        let challenge: [u8; 16] = ch
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| err(ResultCode::InternalError, "stored challenge is corrupt"))?;
        let keys = self.keys();
        let pin = CredentialPin::open(
            &req.pin_block.0,
            &challenge,
            &keys.encryption,
            &keys.encryption.current_id(),
        )?;
        // Refuse guessable PINs when they are set.
        let pin = CredentialPin::parse_new(std::str::from_utf8(pin.expose()).unwrap_or(""))?;
        self.check_face(&record, &req.face_frames, actions).await?;
        let pepper = self.pin_pepper();
        let hash = tokio::task::spawn_blocking(move || {
            PinHash::create(pin.expose(), Some(&pepper), wz_crypto::kdf::DEFAULT_ITERATIONS)
        })
        .await
        .map_err(|_| err(ResultCode::InternalError, "PIN task failed"))??;
        self.issue(&record, Level::Upgraded, &device, Some(hash.to_phc_string()), now)
            .await
    }
}
