//! The wangzheng platform: registry, issuance, verification, revocation,
//! relying parties, citizen history, audit, and the HTTP API over them.
//!
//! Domain logic lives in [`Platform`]'s plain async methods (time passed in);
//! [`http`] only decodes, calls and encodes.

mod config;
mod error;
pub mod face;
pub mod http;
pub mod keys;
mod metrics;
mod platform;
mod ratelimit;
pub mod registry;
pub mod tls;

pub use config::{AdminToken, PlatformConfig, TlsMode, TlsSuites};
pub use error::{PlatformError, Result};
pub use platform::{
    Housekeeping, PURPOSE_LIGHT, PURPOSE_RESUME, PURPOSE_UPGRADED, PURPOSE_VERIFY, Platform, RpRegistration,
    SignedReply, china_date,
};
