//! The SDK a relying party or trusted terminal integrates: configure the RP
//! id, its SM2 key and the platform URL; [`Terminal::verify`] signs the
//! request, sends it (retries resend the same signed request, so the
//! platform answers with the same verdict serial), checks the verdict's
//! platform signature, and opens the released attributes with the RP key.

pub mod card_reader;
mod error;
pub mod presets;
pub mod scan;

use std::time::Duration;

pub use wz_client::{PlatformClient, TlsSuites, Trust};
use wz_crypto::Sm2PrivateKey;
use wz_proto::api::{
    Bytes, Challenge, EnrolResponse, KeyUsage, ReleasedAttributes, UpgradedEnrolRequest, VerifyRequest,
    VerifyVerdict,
};
use wz_proto::{AuthMode, CredentialPin, ResultCode, SignedCard};

pub use error::{Result, TerminalError};

/// What a verification gave the RP: the checked verdict and, if any were
/// released, the attributes opened with the RP's key.
#[derive(Debug, Clone)]
pub struct Verified {
    pub verdict: VerifyVerdict,
    pub attributes: Option<ReleasedAttributes>,
}

impl Verified {
    /// Whether the citizen passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.verdict.result == ResultCode::Pass
    }
}

/// Data a mode needs besides the QR.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Face frames showing the actions of `challenge`, in order.
    pub face_frames: Vec<Vec<u8>>,
    /// The `verify` challenge fetched with [`Terminal::challenge`].
    pub challenge_id: Option<String>,
    /// PIN block from the wallet (0x08).
    pub pin_block: Option<Vec<u8>>,
    /// Name + ID number (+ card validity for four items).
    pub items: Option<wz_proto::api::IdentityItems>,
    /// Card chip data (0x01).
    pub card_data: Option<Vec<u8>>,
}

/// One RP (or trusted terminal) talking to one platform.
#[derive(Debug)]
pub struct Terminal {
    rp_id: String,
    key: Sm2PrivateKey,
    client: PlatformClient,
}

impl Terminal {
    /// `timeout` per try; transport failures retried `retries` times.
    pub fn new(
        rp_id: &str,
        key: Sm2PrivateKey,
        platform_url: &str,
        trust: &Trust,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self> {
        wz_proto::signed_http::check_rp_id(rp_id)?;
        Ok(Self {
            rp_id: rp_id.to_owned(),
            key,
            client: PlatformClient::new(platform_url, trust, timeout, retries)?,
        })
    }

    /// A terminal over a client set up by the caller (e.g. ShangMi TLS).
    pub fn from_client(rp_id: &str, key: Sm2PrivateKey, client: PlatformClient) -> Result<Self> {
        wz_proto::signed_http::check_rp_id(rp_id)?;
        Ok(Self {
            rp_id: rp_id.to_owned(),
            key,
            client,
        })
    }

    /// The RP id.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The platform client.
    #[must_use]
    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    /// A one-time liveness challenge: `verify` before a face check,
    /// `enrol-upgraded` before upgraded enrolment.
    pub async fn challenge(&self, purpose: wz_proto::api::ChallengePurpose) -> Result<Challenge> {
        Ok(self
            .client
            .post_json(
                wz_proto::routes::CHALLENGES,
                &wz_proto::api::ChallengeRequest { purpose },
            )
            .await?)
    }

    /// Verifies a citizen: `qr` (if the mode has 0x04) plus `extras`.
    pub async fn verify(&self, mode: AuthMode, qr: Option<&str>, extras: Extras) -> Result<Verified> {
        let req = VerifyRequest {
            mode,
            qr: qr.map(str::to_owned),
            face_frames: extras.face_frames.into_iter().map(Bytes).collect(),
            challenge_id: extras.challenge_id,
            pin_block: extras.pin_block.map(Bytes),
            items: extras.items,
            card_data: extras.card_data.map(Bytes),
        };
        let body = serde_json::to_vec(&req).map_err(|_| TerminalError::Image("request encoding"))?;
        let reply = self
            .client
            .signed_post(wz_proto::routes::VERIFY, &self.rp_id, &self.key, &body, true)
            .await?;
        let verdict: VerifyVerdict = reply.json()?;
        let attributes = match &verdict.attributes {
            Some(ct) => {
                let plain = self
                    .key
                    .decrypt(&ct.0)
                    .map_err(|_| TerminalError::AttributesUnreadable)?;
                Some(serde_json::from_slice(&plain).map_err(|_| TerminalError::AttributesUnreadable)?)
            }
            None => None,
        };
        Ok(Verified { verdict, attributes })
    }

    /// A credential PIN typed on this terminal's PIN pad, sealed to the
    /// platform and bound to the scanned QR text (0x08 modes).
    pub async fn seal_pin_for_qr(&self, qr: &str, pin: &CredentialPin) -> Result<Vec<u8>> {
        let platform = self.client.current_key(KeyUsage::Encryption).await?;
        Ok(pin.seal(&wz_proto::pin::challenge_for_qr_text(qr), &platform)?)
    }

    /// Upgraded enrolment at this trusted terminal: the card read through a
    /// [`card_reader::CardReader`], frames showing `challenge`'s
    /// actions, the 8-digit credential PIN the citizen typed (sealed to the
    /// platform here), and the wallet's device key with its proof of possession.
    pub async fn enrol_upgraded(
        &self,
        challenge: &Challenge,
        card: &SignedCard,
        frames: Vec<Vec<u8>>,
        pin: &CredentialPin,
        device_public_key: String,
        proof_of_possession: String,
    ) -> Result<EnrolResponse> {
        let nonce: [u8; 16] = hex::decode(&challenge.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(TerminalError::Proto(wz_proto::ProtoError::new(
                ResultCode::RequestMalformed,
                "challenge nonce is malformed",
            )))?;
        let platform = self.client.current_key(KeyUsage::Encryption).await?;
        let req = UpgradedEnrolRequest {
            challenge_id: challenge.challenge_id.clone(),
            card_data: Bytes(card.encode()?),
            face_frames: frames.into_iter().map(Bytes).collect(),
            pin_block: Bytes(pin.seal(&nonce, &platform)?),
            device_public_key,
            proof_of_possession,
        };
        let body = serde_json::to_vec(&req).map_err(|_| TerminalError::Image("request encoding"))?;
        let reply = self
            .client
            .signed_post(
                wz_proto::routes::ENROL_UPGRADED,
                &self.rp_id,
                &self.key,
                &body,
                true,
            )
            .await?;
        Ok(reply.json()?)
    }
}
