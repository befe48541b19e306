//! Wire types of the operator's admin API (`/v1/admin/*`, behind the admin
//! token): request bodies and answers, shared by the server, the console and
//! any operator tooling.

use serde::{Deserialize, Serialize};

use crate::api::Attribute;
use crate::{AuthMode, IdNumber};

/// `POST /v1/admin/rps` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRpBody {
    pub rp_id: String,
    /// Shown to citizens in their history.
    pub name: String,
    /// `verifier` or `trusted_terminal`.
    pub role: String,
    /// SEC1 public key, hex.
    pub public_key: String,
    pub modes: Vec<AuthMode>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
}

/// `POST /v1/admin/rps/{rp_id}/keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddKeyBody {
    /// SEC1 public key, hex.
    pub public_key: String,
    /// Revoke the RP's other keys.
    #[serde(default)]
    pub replace: bool,
}

/// A registered RP key (answer of registration and of adding a key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRef {
    pub rp_id: String,
    pub key_id: String,
}

/// A rotated platform key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rotated {
    pub usage: crate::api::KeyUsage,
    pub key_id: String,
}

/// An RP as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RpSummary {
    pub rp_id: String,
    pub name: String,
    pub role: String,
    pub modes: Vec<AuthMode>,
    pub attributes: Vec<Attribute>,
    pub rate_per_s: u32,
    pub active: bool,
}

/// The audit chain's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditStatus {
    pub entries: u64,
    pub intact: bool,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub first_break_seq: Option<u64>,
    pub first_break: Option<String>,
}

/// Why the operator revokes a citizen's credentials (kept in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    CourtOrder,
    Death,
    Fraud,
    CitizenRequest,
    Other,
}

impl RevocationReason {
    /// Every reason, in wire order.
    pub const ALL: [Self; 5] = [
        Self::CourtOrder,
        Self::Death,
        Self::Fraud,
        Self::CitizenRequest,
        Self::Other,
    ];

    /// The wire name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CourtOrder => "court_order",
            Self::Death => "death",
            Self::Fraud => "fraud",
            Self::CitizenRequest => "citizen_request",
            Self::Other => "other",
        }
    }

    /// From the wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// `POST /v1/admin/citizens/revoke` body: the ID number travels in the
/// body, never in the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeCitizenRequest {
    pub id_number: IdNumber,
    pub reason: RevocationReason,
}

/// `POST /v1/admin/citizens/revoke` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedCredentials {
    /// Live (active or suspended) credentials now revoked.
    pub revoked: u64,
}

/// `GET /v1/admin/registry/files` answer: the files the console may import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportFiles {
    /// Whether the platform has an `import_dir` at all.
    pub configured: bool,
    /// CSV / JSON Lines file names inside it.
    pub files: Vec<String>,
}

/// `POST /v1/admin/registry/imports` body: a name from [`ImportFiles`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportStart {
    pub file: String,
}

/// One rejected registry row: its line and why (never the row's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReject {
    pub line: u64,
    pub reason: String,
}

/// A console import's progress (`GET /v1/admin/registry/imports/{job}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportStatus {
    pub job: u64,
    pub file: String,
    /// Data rows in the file.
    pub total: u64,
    /// Rows read so far.
    pub rows: u64,
    pub inserted: u64,
    pub already_present: u64,
    pub rejected: u64,
    /// The first rejects (the rejects file has them all).
    pub rejects: Vec<ImportReject>,
    /// Name of the rejects file beside the imported one, when any row was rejected.
    pub rejects_file: Option<String>,
    pub finished: bool,
    /// Why the import stopped early, if it did.
    pub error: Option<String>,
}

/// `POST /v1/admin/credentials/lookup` body: the ID number travels in the
/// body, never in the URL; the platform finds the citizen by blind index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialLookup {
    pub id_number: IdNumber,
}

/// One credential of a citizen, as the operator sees it: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialInfo {
    /// Credential id, hex.
    pub cred_id: String,
    /// `lightweight` or `upgraded`.
    pub level: String,
    /// `active`, `suspended`, `superseded` or `revoked`.
    pub status: String,
    pub not_before: u64,
    pub not_after: u64,
    pub issued_at: u64,
    pub status_changed_at: u64,
}

/// `POST /v1/admin/credentials/lookup` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CitizenCredentials {
    /// Whether the ID number is in the registry.
    pub in_registry: bool,
    /// Newest first.
    pub credentials: Vec<CredentialInfo>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLine {
    pub seq: u64,
    pub time: u64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    /// SM3 chain hash, hex.
    pub hash: String,
}

/// `GET /v1/admin/audit` answer: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditLine>,
}
