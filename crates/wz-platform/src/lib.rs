//! The wangzheng platform: registry, issuance, verification, revocation,
//! relying parties, citizen history, audit, and the HTTP API over them.
//!
//! Domain logic lives in [`Platform`]'s plain async methods (time passed in);
//! [`http`] only decodes, calls and encodes.

mod config;
mod enrol;
mod error;
pub mod face;
mod face_check;
pub mod http;
pub mod import;
pub mod keys;
mod metrics;
mod people;
mod platform;
mod ratelimit;
pub mod registry;
mod relying_parties;
mod revoke;
pub mod tls;
mod verify;
mod wallet;

pub use config::{AdminToken, HsmSettings, PlatformConfig, TlsMode, TlsSuites};
pub use error::{PlatformError, Result};
pub use face_check::NEAR_IDENTICAL_SCORE;
pub use people::ReenrolReport;
pub use platform::{
    Housekeeping, Platform, RpRegistration, SignedReply, audit_status_at, china_date, consistency_at,
};
pub use verify::factors::required_level;
