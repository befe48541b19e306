//! SM4-GCM (RFC 8998 §3.1) for data at rest.
//!
//! Nonces: 96-bit, drawn fresh from the OS RNG for every seal. With random
//! nonces one key may seal at most 2^32 messages before the chance of a
//! repeat becomes unacceptable (NIST SP 800-38D §8.3); callers that seal more
//! under one key must rotate the data key. Sealed form:
//! `nonce(12) | ciphertext | tag(16)`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{AesGcm, Nonce};
use sm4::Sm4;
use sm4::cipher::consts::U12;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Result, rng};

type Sm4Gcm = AesGcm<Sm4, U12>;

/// SM4 key length.
pub const SM4_KEY_LEN: usize = 16;
/// GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// An SM4-GCM key. Zeroized on drop; `Debug` prints no key bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Sm4Key([u8; SM4_KEY_LEN]);

impl core::fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sm4Key(<redacted>)")
    }
}

impl Sm4Key {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        Ok(Self(rng::random_array()?))
    }

    /// A key from its 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; SM4_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength {
            expected: SM4_KEY_LEN,
        })?;
        Ok(Self(arr))
    }

    /// The raw key bytes, for wrapping under another key.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8; SM4_KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> Sm4Gcm {
        Sm4Gcm::new(&self.0.into())
    }

    /// Encrypts with a fresh random nonce; `aad` is authenticated, not hidden
    /// (bind records to their row id / column name here).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce = rng::random_array::<NONCE_LEN>()?;
        self.seal_with_nonce(&nonce, plaintext, aad)
    }

    /// Encrypts with a caller-chosen nonce. Only for known-answer tests and
    /// for callers that guarantee uniqueness themselves: reusing a nonce under
    /// one key breaks GCM completely.
    pub fn seal_with_nonce(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let ct = self
            .cipher()
            .encrypt(&Nonce::<U12>::from(*nonce), Payload { msg: plaintext, aad })
            .map_err(|_| CryptoError::AeadFormat)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts `nonce | ciphertext | tag` and checks it against `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::AeadFormat);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::AeadFormat)?;
        self.cipher()
            .decrypt(&Nonce::<U12>::from(nonce), Payload { msg: ct, aad })
            .map(zeroize::Zeroizing::new)
            .map_err(|_| CryptoError::AeadOpen)
    }
}
