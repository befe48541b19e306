//! PIN and password key derivation: PBKDF2-HMAC-SM3 with its parameters
//! stored beside the hash.
//!
//! Stored form (PHC-like, hex for the byte fields):
//! `$pbkdf2-sm3$i=<iterations>$<salt hex>$<hash hex>`.
//!
//! An 8-digit credential PIN has only 10^8 values, so no KDF alone stops an
//! offline search by someone who holds the hash. The KDF makes each guess
//! slow; the real protection is that hashes never leave the platform, that
//! tries are limited online, and that callers may mix a server-side pepper
//! into the input (`pepper` below) kept apart from the database.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::hash::{HmacSm3, SM3_LEN, hmac_sm3};
use crate::{CryptoError, Result, rng};

/// Iterations used for new hashes: about 32 ms per guess on one core of the
/// reference machine (`pin_kdf` in `benches/national.rs`). Each PIN check on
/// the platform costs the same, which the online lockout bounds.
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// Hashes with fewer iterations are refused (a downgraded record).
pub const MIN_ITERATIONS: u32 = 10_000;
/// Hashes with more are refused too: a stored record must not be able to
/// make the server burn unbounded CPU.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
const ALG: &str = "pbkdf2-sm3";

/// Raw PBKDF2-HMAC-SM3, output length = 32 bytes. The result zeroizes on drop.
pub fn pbkdf2_sm3(password: &[u8], salt: &[u8], iterations: u32) -> Result<Zeroizing<[u8; 32]>> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(CryptoError::KdfParams("iterations out of range"));
    }
    let mut out = Zeroizing::new([0u8; SM3_LEN]);
    pbkdf2::pbkdf2::<HmacSm3>(password, salt, iterations, out.as_mut_slice())
        .map_err(|_| CryptoError::KdfParams("PBKDF2 rejected the parameters"))?;
    Ok(out)
}

/// A stored PIN/password hash with its parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash {
    iterations: u32,
    salt: [u8; SALT_LEN],
    hash: [u8; SM3_LEN],
}

impl core::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PinHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn peppered(pin: &[u8], pepper: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    match pepper {
        // HMAC keyed by the pepper: the database alone is not enough to search.
        Some(p) => Zeroizing::new(hmac_sm3(p, pin).to_vec()),
        None => Zeroizing::new(pin.to_vec()),
    }
}

impl PinHash {
    /// Hashes `pin` with a fresh random salt.
    pub fn create(pin: &[u8], pepper: Option<&[u8]>, iterations: u32) -> Result<Self> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CryptoError::KdfParams("iterations out of range"));
        }
        let salt = rng::random_array::<SALT_LEN>()?;
        let input = peppered(pin, pepper);
        let hash = *pbkdf2_sm3(&input, &salt, iterations)?;
        Ok(Self {
            iterations,
            salt,
            hash,
        })
    }

    /// Checks `pin` against this hash in constant time.
    pub fn verify(&self, pin: &[u8], pepper: Option<&[u8]>) -> Result<bool> {
        let input = peppered(pin, pepper);
        let got = pbkdf2_sm3(&input, &self.salt, self.iterations)?;
        Ok(bool::from(got.as_slice().ct_eq(&self.hash)))
    }

    /// Iterations this hash was made with (to decide on re-hashing).
    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The stored text form.
    #[must_use]
    pub fn to_phc_string(&self) -> String {
        format!(
            "${ALG}$i={}${}${}",
            self.iterations,
            hex::encode(self.salt),
            hex::encode(self.hash)
        )
    }

    /// Parses the stored text form, refusing out-of-range parameters.
    pub fn from_phc_string(s: &str) -> Result<Self> {
        let mut parts = s.split('$');
        let (Some(""), Some(alg), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CryptoError::PasswordHashFormat("expected 4 '$'-separated fields"));
        };
        if alg != ALG {
            return Err(CryptoError::PasswordHashFormat("unknown algorithm"));
        }
        let iterations: u32 = params
            .strip_prefix("i=")
            .and_then(|v| v.parse().ok())
            .ok_or(CryptoError::PasswordHashFormat("bad iteration field"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CryptoError::KdfParams("iterations out of range"));
        }
        let mut salt_b = [0u8; SALT_LEN];
        hex::decode_to_slice(salt, &mut salt_b).map_err(|_| CryptoError::PasswordHashFormat("bad salt"))?;
        let mut hash_b = [0u8; SM3_LEN];
        hex::decode_to_slice(hash, &mut hash_b).map_err(|_| CryptoError::PasswordHashFormat("bad hash"))?;
        Ok(Self {
            iterations,
            salt: salt_b,
            hash: hash_b,
        })
    }
}
