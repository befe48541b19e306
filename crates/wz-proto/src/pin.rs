//! The 8-digit credential PIN (网证口令) and the PIN block that carries it,
//! encrypted to the platform, from a terminal or wallet.
//!
//! ```text
//! pin_block = SM2Enc(platform_pub, "wz-pin-v1" | challenge(16) | pin(8 ASCII digits))
//! ```
//!
//! The challenge is a platform nonce of the enrolment or verification it
//! belongs to, so a captured block cannot be replayed elsewhere.

use core::fmt;

use wz_crypto::{KeyId, Sm2Decrypter, Sm2PublicKey};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{ProtoError, ResultCode};

const DOMAIN: &[u8] = b"wz-pin-v1";
/// PIN length in digits.
pub const PIN_LEN: usize = 8;

/// The challenge a PIN block for a QR verification is bound to: derived from
/// the QR body, so the block is good for that one presentation only.
#[must_use]
pub fn challenge_for_qr(body: &crate::QrBody) -> [u8; 16] {
    let d = wz_crypto::sm3_parts(&[
        b"wz-pin-qr",
        &body.cred_id.0,
        &body.counter.to_be_bytes(),
        &body.nonce,
    ]);
    let mut out = [0u8; 16];
    out.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    out
}

/// The challenge a PIN typed on a terminal's own PIN pad is bound to: the
/// terminal cannot open the QR, so it binds the PIN to the QR text it
/// scanned, which is just as unique to the one presentation.
#[must_use]
pub fn challenge_for_qr_text(text: &str) -> [u8; 16] {
    let d = wz_crypto::sm3_parts(&[b"wz-pin-qr-text", text.trim().as_bytes()]);
    let mut out = [0u8; 16];
    out.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    out
}

/// An 8-digit credential PIN. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CredentialPin([u8; PIN_LEN]);

impl fmt::Debug for CredentialPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialPin(<redacted>)")
    }
}

impl CredentialPin {
    /// Exactly 8 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, ProtoError> {
        let b: [u8; PIN_LEN] = s
            .as_bytes()
            .try_into()
            .map_err(|_| ProtoError::new(ResultCode::RequestMalformed, "PIN must be 8 digits"))?;
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(ProtoError::new(
                ResultCode::RequestMalformed,
                "PIN must be 8 digits",
            ));
        }
        Ok(Self(b))
    }

    /// Parses and also refuses PINs that are easy to guess when one is set:
    /// one repeated digit, or a run up or down (12345678, 87654321).
    pub fn parse_new(s: &str) -> Result<Self, ProtoError> {
        let pin = Self::parse(s)?;
        if pin.is_weak() {
            return Err(ProtoError::new(
                ResultCode::RequestMalformed,
                "PIN is too easy to guess",
            ));
        }
        Ok(pin)
    }

    fn is_weak(&self) -> bool {
        let steps: Vec<i16> = self
            .0
            .iter()
            .zip(self.0.iter().skip(1))
            .map(|(a, b)| i16::from(*b) - i16::from(*a))
            .collect();
        steps.iter().all(|d| *d == 0) || steps.iter().all(|d| *d == 1) || steps.iter().all(|d| *d == -1)
    }

    /// The digits, for hashing.
    #[must_use]
    pub fn expose(&self) -> &[u8; PIN_LEN] {
        &self.0
    }

    /// Encrypts this PIN to the platform, bound to `challenge`.
    pub fn seal(&self, challenge: &[u8; 16], platform: &Sm2PublicKey) -> Result<Vec<u8>, ProtoError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(DOMAIN.len() + 16 + PIN_LEN));
        plain.extend_from_slice(DOMAIN);
        plain.extend_from_slice(challenge);
        plain.extend_from_slice(&self.0);
        Ok(platform.encrypt(&plain)?)
    }

    /// Decrypts a PIN block and checks it belongs to `challenge`.
    pub fn open(
        block: &[u8],
        challenge: &[u8; 16],
        keys: &dyn Sm2Decrypter,
        key_id: &KeyId,
    ) -> Result<Self, ProtoError> {
        let bad = ProtoError::new(
            ResultCode::RequestMalformed,
            "PIN block is malformed or not for this request",
        );
        if block.len() > 512 {
            return Err(bad);
        }
        let plain = keys.decrypt(key_id, block).map_err(|_| bad.clone())?;
        let rest = plain
            .strip_prefix(DOMAIN)
            .and_then(|r| r.strip_prefix(challenge.as_slice()))
            .ok_or(bad.clone())?;
        let digits = std::str::from_utf8(rest).map_err(|_| bad.clone())?;
        Self::parse(digits).map_err(|_| bad)
    }
}
