//! The crate's error: a result code from the shared table plus a short,
//! PII-free reason for logs and developers.

use crate::ResultCode;

/// A protocol fault. `code` is what clients match on; `reason` is fixed
/// text written by this crate and never contains input bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct ProtoError {
    /// The shared result code.
    pub code: ResultCode,
    /// A fixed, PII-free explanation.
    pub reason: &'static str,
}

impl ProtoError {
    /// A new error.
    #[must_use]
    pub const fn new(code: ResultCode, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

impl From<wz_crypto::CryptoError> for ProtoError {
    fn from(e: wz_crypto::CryptoError) -> Self {
        use wz_crypto::CryptoError as C;
        match e {
            C::Rng => Self::new(ResultCode::Unavailable, "random source failed"),
            _ => Self::new(ResultCode::InternalError, "cryptographic operation failed"),
        }
    }
}
