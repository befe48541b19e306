//! Request and response types of the platform's HTTP API, shared by the
//! platform, the wallet and the terminal SDK so that they cannot drift.
//!
//! Binary fields travel as standard base64 ([`Bytes`]). Types that carry
//! personal data redact it in `Debug`.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{AuthMode, CivilDate, CredentialId, IdNumber, Level, ResultCode, Sex};

/// Bytes as standard base64 in JSON. `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}
impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}
impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}
impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

/// RFC 7807 problem details with the shared result code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub code: ResultCode,
    pub code_number: u16,
    /// Fixed, PII-free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    /// The problem for a result code, with an optional PII-free detail.
    #[must_use]
    pub fn new(code: ResultCode, detail: Option<&str>) -> Self {
        Self {
            type_uri: format!("urn:wangzheng:error:{}", code.name()),
            title: code.message_en().to_owned(),
            status: code.http_status(),
            code,
            code_number: code.code(),
            detail: detail.map(str::to_owned),
        }
    }
}

impl From<crate::ProtoError> for Problem {
    fn from(e: crate::ProtoError) -> Self {
        Self::new(e.code, Some(e.reason))
    }
}

/// What a platform key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyUsage {
    /// Signs credentials and verdicts.
    Signing,
    /// Receives QR payloads and PIN blocks.
    Encryption,
}

impl KeyUsage {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Encryption => "encryption",
        }
    }

    /// From the wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Signing, Self::Encryption]
            .into_iter()
            .find(|u| u.as_str() == s)
    }
}

/// One published platform public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedKey {
    pub key_id: String,
    pub usage: KeyUsage,
    /// SEC1 uncompressed point, hex.
    pub public_key: String,
    /// Whether new material is made with this key (others are draining).
    pub current: bool,
    /// Unix seconds after which the key is no longer accepted, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<u64>,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysResponse {
    pub keys: Vec<PublishedKey>,
    /// Platform clock, unix seconds (wallets learn their offset from it).
    pub server_time: u64,
}

/// The four items (name, ID number, card validity) typed by a citizen.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityItems {
    pub name: String,
    pub id_number: IdNumber,
    /// Absent for two-item checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_from: Option<CivilDate>,
    /// Absent for two-item checks; `None` also for long-term (长期) cards when from is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_to: Option<CivilDate>,
}

impl fmt::Debug for IdentityItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityItems(<redacted>)")
    }
}

/// A liveness action the platform asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LivenessAction {
    TurnLeft,
    TurnRight,
    Blink,
    OpenMouth,
    Nod,
}

impl LivenessAction {
    /// Every action, in wire order.
    pub const ALL: [Self; 5] = [
        Self::TurnLeft,
        Self::TurnRight,
        Self::Blink,
        Self::OpenMouth,
        Self::Nod,
    ];

    /// The wire name (`turn_left`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::TurnLeft => "turn_left",
            Self::TurnRight => "turn_right",
            Self::Blink => "blink",
            Self::OpenMouth => "open_mouth",
            Self::Nod => "nod",
        }
    }

    /// From the wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// `POST /v1/challenges`: a one-time challenge for enrolment or a face check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Challenge {
    pub challenge_id: String,
    /// 16 random bytes, hex; bound into proofs of possession and PIN blocks.
    pub nonce: String,
    pub actions: Vec<LivenessAction>,
    pub expires_at: u64,
}

/// What a liveness challenge is for: it is taken only by that flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ChallengePurpose {
    /// Online enrolment (`/v1/enrol/light`).
    EnrolLight,
    /// Enrolment at a trusted terminal (`/v1/enrol/upgraded`).
    EnrolUpgraded,
    /// A face check at verification.
    Verify,
    /// A citizen lifting their own suspension (`/v1/wallet/resume`).
    Resume,
}

impl ChallengePurpose {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnrolLight => "enrol-light",
            Self::EnrolUpgraded => "enrol-upgraded",
            Self::Verify => "verify",
            Self::Resume => "resume",
        }
    }
}

/// `POST /v1/challenges` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeRequest {
    pub purpose: ChallengePurpose,
}

/// `POST /v1/enrol/light`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LightEnrolRequest {
    pub challenge_id: String,
    pub items: IdentityItems,
    /// JPEG/PNG frames showing the asked actions, in order.
    pub face_frames: Vec<Bytes>,
    /// SEC1 uncompressed device public key, hex.
    pub device_public_key: String,
    /// Device signature over `"wz-pop-v1" | challenge nonce | device public key`, hex r|s.
    pub proof_of_possession: String,
}

/// `POST /v1/enrol/upgraded` (trusted terminals only; RP-signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpgradedEnrolRequest {
    pub challenge_id: String,
    /// The card chip's authority-signed data.
    pub card_data: Bytes,
    pub face_frames: Vec<Bytes>,
    /// [`crate::CredentialPin::seal`] output.
    pub pin_block: Bytes,
    pub device_public_key: String,
    pub proof_of_possession: String,
}

/// The answer to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolResponse {
    /// [`crate::CredentialCert::encode`] output.
    pub credential: Bytes,
    pub level: Level,
    pub server_time: u64,
}

/// Bytes a device signs to prove it holds the key it enrols.
#[must_use]
pub fn proof_of_possession_input(challenge_nonce: &[u8], device_public_key: &[u8]) -> Vec<u8> {
    [b"wz-pop-v1".as_slice(), challenge_nonce, device_public_key].concat()
}

/// Status of a credential as the wallet learns it at sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    Suspended,
    Revoked,
    Superseded,
    Expired,
}

impl CredentialStatus {
    /// The wire name (`active`, `suspended`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
            Self::Expired => "expired",
        }
    }

    /// The result code a verification of a credential in this state gets.
    #[must_use]
    pub fn result_code(self) -> ResultCode {
        match self {
            Self::Active => ResultCode::Pass,
            Self::Suspended => ResultCode::CredentialSuspended,
            Self::Revoked => ResultCode::CredentialRevoked,
            Self::Superseded => ResultCode::CredentialSuperseded,
            Self::Expired => ResultCode::CredentialExpired,
        }
    }

    /// Whether the wallet must wipe the credential on learning this.
    #[must_use]
    pub fn must_wipe(self) -> bool {
        matches!(self, Self::Revoked | Self::Superseded | Self::Expired)
    }
}

/// `GET /v1/wallet/status` (device-signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResponse {
    pub cred_id: CredentialId,
    pub status: CredentialStatus,
    pub server_time: u64,
}

/// One line of the citizen's "who verified me" history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub rp_name: String,
    pub time: u64,
    pub mode: AuthMode,
    pub result: ResultCode,
}

/// Attributes an RP registration may be entitled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    Name,
    IdNumber,
    Sex,
    BirthDate,
    #[serde(rename = "age_over_18")]
    AgeOver18,
    #[serde(rename = "age_over_60")]
    AgeOver60,
    Address,
    Photo,
    Ethnicity,
    CardValidity,
}

impl Attribute {
    /// Every attribute.
    pub const ALL: [Attribute; 10] = [
        Self::Name,
        Self::IdNumber,
        Self::Sex,
        Self::BirthDate,
        Self::AgeOver18,
        Self::AgeOver60,
        Self::Address,
        Self::Photo,
        Self::Ethnicity,
        Self::CardValidity,
    ];

    /// The snake_case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::IdNumber => "id_number",
            Self::Sex => "sex",
            Self::BirthDate => "birth_date",
            Self::AgeOver18 => "age_over_18",
            Self::AgeOver60 => "age_over_60",
            Self::Address => "address",
            Self::Photo => "photo",
            Self::Ethnicity => "ethnicity",
            Self::CardValidity => "card_validity",
        }
    }

    /// Parses a comma-separated list such as `name,id_number`.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, crate::ProtoError> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                Self::ALL
                    .into_iter()
                    .find(|a| a.name() == p)
                    .ok_or(crate::ProtoError::new(
                        ResultCode::RequestMalformed,
                        "unknown attribute name",
                    ))
            })
            .collect()
    }
}

/// `POST /v1/verify` body (RP-signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    pub mode: AuthMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub face_frames: Vec<Bytes>,
    /// The liveness challenge (purpose `verify`) whose actions the face
    /// frames show; required with face modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// PIN block bound to the QR's nonce (first 8 bytes, zero-padded to 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_block: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<IdentityItems>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_data: Option<Bytes>,
}

/// Attribute values released to an RP; sent only encrypted to its key.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleasedAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<CivilDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_over_18: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_over_60: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_from: Option<CivilDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_to: Option<CivilDate>,
}

impl fmt::Debug for ReleasedAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReleasedAttributes(<redacted>)")
    }
}

/// The platform's signed answer to `POST /v1/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyVerdict {
    /// Unique verdict serial (also the idempotency key on retries).
    pub serial: String,
    pub result: ResultCode,
    pub result_code: u16,
    pub mode: AuthMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    pub time: u64,
    /// HMAC-SM3 of citizen and RP, hex: stable per (citizen, RP), unlinkable across RPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Names of the attributes inside `attributes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<Attribute>,
    /// SM2 ciphertext (to the RP's key) of the JSON [`ReleasedAttributes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Bytes>,
}

/// `POST /v1/wallet/resume` (device-signed): the citizen lifts their own
/// suspension through a strong path — a live face matching the registry
/// and, for an upgraded credential, the credential PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResumeRequest {
    /// A challenge of purpose `resume`.
    pub challenge_id: String,
    /// Frames showing the challenge's actions, in order.
    pub face_frames: Vec<Bytes>,
    /// The credential PIN sealed to the platform's current encryption key,
    /// bound to the challenge nonce (required for an upgraded credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_block: Option<Bytes>,
}
