//! National cryptography for wangzheng: SM2 (GB/T 32918), SM3 (GB/T 32905)
//! and SM4 (GB/T 32907) behind small, safe types.
//!
//! This crate does no I/O except reading the OS random source. Private key
//! types zeroize on drop and never print secret bytes.

mod aead;
mod error;
pub mod hash;
pub mod kdf;
mod keyid;
mod keyring;
mod rng;
mod signer;
pub mod sm2;
mod sm2_verify;

pub use aead::{NONCE_LEN, SM4_KEY_LEN, Sm4Key, TAG_LEN};
pub use error::{CryptoError, Result};
pub use hash::{Sm3Digest, Sm3Hasher, hmac_sm3, hmac_sm3_parts, hmac_sm3_verify, sm3, sm3_parts};
pub use kdf::{PinHash, pbkdf2_sm3};
pub use keyid::KeyId;
pub use keyring::Keyring;
pub use rng::{fill_random, random_array};
pub use signer::{KeyWrapper, Sm2Decrypter, Sm2Signer};
pub use sm2::{CipherLayout, DEFAULT_USER_ID, Sm2PrivateKey, Sm2PublicKey, Sm2Signature};
