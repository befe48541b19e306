//! SM3 (GB/T 32905-2016) hashing and HMAC-SM3 (RFC 2104 over SM3).

use hmac::{Hmac, KeyInit, Mac};
use sm3::{Digest, Sm3};

/// Length of an SM3 digest in bytes.
pub const SM3_LEN: usize = 32;

/// An SM3 digest.
pub type Sm3Digest = [u8; SM3_LEN];

/// SM3 of one byte string.
#[must_use]
pub fn sm3(data: &[u8]) -> Sm3Digest {
    Sm3::digest(data).into()
}

/// SM3 over several parts, as if concatenated.
#[must_use]
pub fn sm3_parts(parts: &[&[u8]]) -> Sm3Digest {
    let mut h = Sm3::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Streaming SM3 for large inputs.
#[derive(Clone, Default, Debug)]
pub struct Sm3Hasher(Sm3);

impl Sm3Hasher {
    #[must_use]
    pub fn new() -> Self {
        Self(Sm3::new())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    #[must_use]
    pub fn finalize(self) -> Sm3Digest {
        self.0.finalize().into()
    }
}

pub(crate) type HmacSm3 = Hmac<Sm3>;

/// HMAC-SM3 of `data` under `key` (any key length, per RFC 2104).
#[must_use]
pub fn hmac_sm3(key: &[u8], data: &[u8]) -> Sm3Digest {
    hmac_sm3_parts(key, &[data])
}

/// HMAC-SM3 over several parts, as if concatenated.
#[must_use]
pub fn hmac_sm3_parts(key: &[u8], parts: &[&[u8]]) -> Sm3Digest {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = <HmacSm3 as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time check of an HMAC-SM3 tag.
#[must_use]
pub fn hmac_sm3_verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let Ok(mut mac) = <HmacSm3 as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}
