//! Rows as the platform sees them.

use wz_proto::api::{Attribute, CredentialStatus};
use wz_proto::{AuthMode, CredentialId, Level};

use crate::StoreError;

/// A registry record to import. Everything personal is sealed already.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRegistryRecord {
    /// HMAC-SM3 blind index of the ID number.
    pub id_index: [u8; 32],
    /// SM4-GCM sealed personal data.
    pub pii: Vec<u8>,
    /// SM4-GCM sealed photo.
    pub photo: Option<Vec<u8>>,
    /// Face template (embedding) and the model that made it.
    pub face_template: Option<Vec<u8>>,
    pub template_model: Option<String>,
    /// Id of the data key that sealed `pii` and `photo`.
    pub data_key_id: String,
}

impl core::fmt::Debug for NewRegistryRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NewRegistryRecord(<sealed>)")
    }
}

/// A stored registry record.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    pub citizen_id: i64,
    pub record: NewRegistryRecord,
    pub created_at: u64,
}

impl core::fmt::Debug for RegistryRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RegistryRecord(citizen {}, <sealed>)", self.citizen_id)
    }
}

/// A credential to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub cred_id: CredentialId,
    pub citizen_id: i64,
    pub level: Level,
    pub device_public_key: Vec<u8>,
    pub certificate: Vec<u8>,
    pub not_before: u64,
    pub not_after: u64,
}

/// A stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub cred_id: CredentialId,
    pub citizen_id: i64,
    pub level: Level,
    pub device_public_key: Vec<u8>,
    pub certificate: Vec<u8>,
    pub status: CredentialStatus,
    pub not_before: u64,
    pub not_after: u64,
    /// Highest QR counter accepted so far (-1: none yet).
    pub last_counter: i64,
    pub created_at: u64,
    pub status_changed_at: u64,
}

pub(crate) fn status_text(s: CredentialStatus) -> &'static str {
    s.name()
}

pub(crate) fn status_from_text(s: &str) -> Result<CredentialStatus, StoreError> {
    Ok(match s {
        "active" => CredentialStatus::Active,
        "suspended" => CredentialStatus::Suspended,
        "revoked" => CredentialStatus::Revoked,
        "superseded" => CredentialStatus::Superseded,
        "expired" => CredentialStatus::Expired,
        _ => return Err(StoreError::Corrupt("credential status")),
    })
}

pub(crate) fn level_from_i64(v: i64) -> Result<Level, StoreError> {
    match v {
        1 => Ok(Level::Lightweight),
        2 => Ok(Level::Upgraded),
        _ => Err(StoreError::Corrupt("credential level")),
    }
}

/// What a relying party is registered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpRole {
    /// Scans QR codes and asks for verdicts.
    Verifier,
    /// An enrolment kiosk with a card reader; may also verify.
    TrustedTerminal,
}

impl RpRole {
    /// Stored and CLI name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verifier => "verifier",
            Self::TrustedTerminal => "trusted_terminal",
        }
    }

    /// From the stored or CLI name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "verifier" => Ok(Self::Verifier),
            "trusted_terminal" | "trusted-terminal" => Ok(Self::TrustedTerminal),
            _ => Err(StoreError::Corrupt("relying party role")),
        }
    }
}

/// Whether an RP (or one of its keys) may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityStatus {
    Active,
    Revoked,
}

impl EntityStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "revoked" => Ok(Self::Revoked),
            _ => Err(StoreError::Corrupt("status")),
        }
    }
}

/// A relying party's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub rp_id: String,
    pub name: String,
    pub role: RpRole,
    /// Modes it may request.
    pub modes: Vec<AuthMode>,
    /// Attributes it may receive.
    pub attributes: Vec<Attribute>,
    /// Requests per second it may make.
    pub rate_per_s: u32,
    pub status: EntityStatus,
    pub created_at: u64,
}

/// One of an RP's signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpKey {
    pub key_id: String,
    pub rp_id: String,
    /// SEC1 uncompressed point.
    pub public_key: Vec<u8>,
    pub status: EntityStatus,
    pub created_at: u64,
    pub revoked_at: Option<u64>,
}

/// A stored PIN hash and its lockout state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinState {
    pub citizen_id: i64,
    pub pin_hash: String,
    pub failed_count: u32,
    pub locked_until: u64,
}

/// One verification, as logged and as answered.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub serial: String,
    pub rp_id: String,
    pub request_nonce: String,
    /// SM3 of the request body.
    pub request_hash: [u8; 32],
    pub citizen_id: Option<i64>,
    pub cred_id: Option<CredentialId>,
    pub mode: u8,
    pub result: u16,
    pub time: u64,
    /// The signed response bytes, replayed verbatim on an idempotent retry.
    pub response: Vec<u8>,
}

impl core::fmt::Debug for VerificationRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerificationRecord")
            .field("serial", &self.serial)
            .field("rp_id", &self.rp_id)
            .field("mode", &self.mode)
            .field("result", &self.result)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// A history line joined with the RP's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub rp_name: String,
    pub time: u64,
    pub mode: u8,
    pub result: u16,
}

/// A one-time challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub challenge_id: String,
    pub nonce: Vec<u8>,
    pub purpose: String,
    /// Comma-separated liveness actions.
    pub actions: String,
    pub expires_at: u64,
}

/// A platform key as stored: private part wrapped under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct PlatformKeyRow {
    pub key_id: String,
    /// `signing`, `encryption`, `pseudonym`, `data`, `index`.
    pub usage: String,
    pub wrapped: Vec<u8>,
    pub public_key: Option<Vec<u8>>,
    /// `current`, `draining` or `retired`.
    pub status: String,
    pub created_at: u64,
    pub retire_at: Option<u64>,
}

impl core::fmt::Debug for PlatformKeyRow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "PlatformKeyRow({} {} {})",
            self.key_id, self.usage, self.status
        )
    }
}
