//! Wire formats of wangzheng, shared by the platform, the wallet and the
//! terminals: pure data and pure functions, no I/O.
//!
//! * [`AuthMode`] — the CTID auth-mode bit flags;
//! * [`ResultCode`] — the one stable table of outcomes;
//! * [`IdNumber`] — GB 11643-1999 resident ID numbers;
//! * [`qr`] — the credential QR code (`WZ1:` + base45);
//! * [`credential`] — the credential certificate the platform signs;
//! * [`signed_http`] — SM2-signed RP requests and platform verdicts;
//! * [`pin`] — the credential PIN and its encrypted block;
//! * [`api`] — JSON request/response types.

pub mod admin;
pub mod api;
mod auth_mode;
pub mod card;
pub mod credential;
mod date;
mod error;
mod id_number;
#[cfg(feature = "openapi")]
mod openapi;
pub mod pin;
pub mod qr;
mod reader;
mod result_code;
pub mod routes;
pub mod signed_http;
pub mod text;

pub use auth_mode::AuthMode;
pub use card::{CardData, SignedCard};
pub use credential::{CredentialBody, CredentialCert, CredentialId, Level};
pub use date::{CivilDate, DateError};
pub use error::ProtoError;
pub use id_number::{IdNumber, IdNumberError, Sex};
pub use pin::CredentialPin;
pub use qr::{QrBody, QrEnvelope, SignedQrBody};
pub use result_code::ResultCode;
pub use signed_http::{RequestAuth, RequestTarget, ResponseAuth, ResponseTarget};

impl From<IdNumberError> for ProtoError {
    fn from(e: IdNumberError) -> Self {
        let reason = match e {
            IdNumberError::Length => "ID number must have 18 characters",
            IdNumberError::NotDigit(_) => "ID number body must be digits",
            IdNumberError::CheckCharacter => "ID number check character must be a digit or X",
            IdNumberError::Region => "ID number region code is not a known province",
            IdNumberError::BirthDate => "ID number birth date is not a valid date",
            IdNumberError::BirthInFuture => "ID number birth date is in the future",
            IdNumberError::Sequence => "ID number sequence code 000 is not issued",
            IdNumberError::CheckDigit => "ID number check digit does not match",
        };
        ProtoError::new(ResultCode::IdNumberInvalid, reason)
    }
}
