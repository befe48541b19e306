//! Key ids: short, stable names for public keys.

use core::fmt;
use core::str::FromStr;

use crate::CryptoError;

/// First 8 bytes of SM3 over a key's DER SubjectPublicKeyInfo; shown as 16
/// lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Length in bytes.
    pub const LEN: usize = 8;

    /// The id of a DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn of_der(spki_der: &[u8]) -> Self {
        Self(crate::sm2::key_id_of_der(spki_der))
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 8];
        hex::decode_to_slice(s, &mut out).map_err(|_| CryptoError::KeyIdFormat)?;
        Ok(Self(out))
    }
}
