//! The wangzheng citizen wallet (DESIGN.md §2): a device key and a
//! credential sealed behind the wallet PIN, enrolment, the rotating
//! encrypted QR, sync (a voided credential is wiped), "who verified me"
//! history and self-suspension.

mod error;
pub mod keystore;
pub mod render;
mod wallet;

pub use error::{Result, WalletError};
pub use keystore::{FaceGate, FileKeystore, Holder, Keystore, WalletState};
pub use wallet::{DeviceKey, QR_REFRESH_SECS, Summary, SyncOutcome, Wallet, mask_name};
pub use wz_client::{TlsSuites, Trust};
