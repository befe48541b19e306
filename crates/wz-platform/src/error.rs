//! The platform's error: a shared result code and a fixed, PII-free reason.

use wz_proto::{ProtoError, ResultCode};
use wz_store::StoreError;

/// Why an operation did not complete. `reason` is fixed text from this
/// crate; it never carries input values or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct PlatformError {
    pub code: ResultCode,
    pub reason: &'static str,
}

impl PlatformError {
    #[must_use]
    pub const fn new(code: ResultCode, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

impl From<ProtoError> for PlatformError {
    fn from(e: ProtoError) -> Self {
        Self::new(e.code, e.reason)
    }
}

impl From<StoreError> for PlatformError {
    fn from(e: StoreError) -> Self {
        // Logged here once, without values; the caller sees only the code.
        tracing::error!(error = %e, "storage error");
        if e.is_unavailable() {
            Self::new(ResultCode::Unavailable, "database is not reachable")
        } else {
            Self::new(ResultCode::InternalError, "storage error")
        }
    }
}

impl From<wz_crypto::CryptoError> for PlatformError {
    fn from(e: wz_crypto::CryptoError) -> Self {
        ProtoError::from(e).into()
    }
}

pub type Result<T, E = PlatformError> = core::result::Result<T, E>;
