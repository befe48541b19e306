//! The credential QR code (DESIGN.md §4), byte for byte:
//!
//! ```text
//! text     = "WZ1:" + base45(envelope)                 (RFC 9285; QR alphanumeric mode)
//! envelope = version(1)=0x01 | key_hint(2) | SM2Enc(platform_pub, body)   (C1|C3|C2, 197 bytes)
//! body     = cred_id(16) | issued_at(8, unix s, BE) | counter(4, BE) | nonce(8) | signature(64)
//! signature = SM2Sign(device_key, "wz-qr-v1" | cred_id | issued_at | counter | nonce)
//! ```
//!
//! `key_hint` is the first two bytes of the platform encryption key's id
//! (see `wz_crypto::KeyId`); the platform tries each of its keys with that
//! prefix. The envelope is always 200 bytes and the text 304 characters,
//! which fits QR version 10 at error-correction level M. Nothing in it is
//! personal data, and because SM2 encryption is randomised two codes of one
//! citizen cannot be linked by anyone but the platform.

use wz_crypto::{KeyId, Sm2Decrypter, Sm2PublicKey, Sm2Signature, Sm2Signer};

use crate::credential::CredentialId;
use crate::reader::Reader;
use crate::{ProtoError, ResultCode};

/// Text prefix of every wangzheng QR code.
pub const QR_PREFIX: &str = "WZ1:";
/// The envelope version this crate writes and reads.
pub const QR_VERSION: u8 = 0x01;
const SIGN_DOMAIN: &[u8] = b"wz-qr-v1";
/// Plain body length.
pub const BODY_LEN: usize = 16 + 8 + 4 + 8 + 64;
/// Envelope length.
pub const ENVELOPE_LEN: usize = 1 + 2 + BODY_LEN + wz_crypto::sm2::CIPHERTEXT_OVERHEAD;
/// Longest text accepted before decoding is attempted.
pub const MAX_TEXT_LEN: usize = 1024;
/// Default freshness window, seconds either side of platform time.
pub const DEFAULT_FRESHNESS_SECS: u64 = 60;

const fn malformed(reason: &'static str) -> ProtoError {
    ProtoError::new(ResultCode::QrMalformed, reason)
}

/// What the wallet puts in a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrBody {
    pub cred_id: CredentialId,
    /// Unix seconds, wallet clock corrected by its learned platform offset.
    pub issued_at: u64,
    /// Strictly increasing per credential.
    pub counter: u32,
    /// Fresh random bytes for each code.
    pub nonce: [u8; 8],
}

impl QrBody {
    /// The bytes the device key signs.
    #[must_use]
    pub fn signing_input(&self) -> Vec<u8> {
        [SIGN_DOMAIN, &self.fields()].concat()
    }

    /// `cred_id | issued_at | counter | nonce`.
    fn fields(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(BODY_LEN);
        m.extend_from_slice(&self.cred_id.0);
        m.extend_from_slice(&self.issued_at.to_be_bytes());
        m.extend_from_slice(&self.counter.to_be_bytes());
        m.extend_from_slice(&self.nonce);
        m
    }

    /// Signs with the device key, encrypts to the platform and returns the QR text.
    pub fn seal(&self, device: &dyn Sm2Signer, platform: &Sm2PublicKey) -> Result<String, ProtoError> {
        let signature = device.sign(&self.signing_input())?;
        let mut body = self.fields();
        body.extend_from_slice(&signature.to_bytes());
        let ct = platform.encrypt(&body)?;
        let mut env = Vec::with_capacity(ENVELOPE_LEN);
        env.push(QR_VERSION);
        env.extend_from_slice(&key_hint(&platform.key_id()));
        env.extend_from_slice(&ct);
        Ok(format!("{QR_PREFIX}{}", base45::encode(&env)))
    }

    /// Whether `issued_at` lies within `window` seconds of `now`.
    pub fn check_freshness(&self, now: u64, window: u64) -> Result<(), ProtoError> {
        if self.issued_at.abs_diff(now) > window {
            return Err(ProtoError::new(
                ResultCode::QrExpired,
                "QR issued_at outside the freshness window",
            ));
        }
        Ok(())
    }
}

fn key_hint(id: &KeyId) -> [u8; 2] {
    [id.0[0], id.0[1]]
}

/// A parsed but still encrypted QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrEnvelope {
    pub version: u8,
    pub key_hint: [u8; 2],
    pub ciphertext: Vec<u8>,
}

/// A decrypted QR body whose device signature is not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedQrBody {
    pub body: QrBody,
    pub signature: Sm2Signature,
    /// The platform key that opened it.
    pub platform_key_id: KeyId,
}

impl QrEnvelope {
    /// Parses QR text. Untrusted input: never panics; every fault is
    /// `QrMalformed` or `QrVersionUnsupported`.
    pub fn parse(text: &str) -> Result<Self, ProtoError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(malformed("QR text is too long"));
        }
        // Scanners sometimes append a line break.
        let text = text.trim_end_matches(['\r', '\n']);
        let b45 = text
            .strip_prefix(QR_PREFIX)
            .ok_or(malformed("QR text does not start with WZ1:"))?;
        let env = base45::decode(b45).map_err(|_| malformed("QR text is not valid base45"))?;
        // The decoder accepts some out-of-range groups (e.g. "ZZ" > 255);
        // RFC 9285 says to refuse them, so only the canonical text passes.
        if base45::encode(&env) != b45 {
            return Err(malformed("QR text is not canonical base45"));
        }
        let mut r = Reader::with_code(&env, ResultCode::QrMalformed);
        let version = r.u8()?;
        if version != QR_VERSION {
            return Err(ProtoError::new(
                ResultCode::QrVersionUnsupported,
                "unknown QR envelope version",
            ));
        }
        let key_hint = r.array::<2>()?;
        let ciphertext = r.rest().to_vec();
        if ciphertext.len() != ENVELOPE_LEN - 3 {
            return Err(malformed("QR envelope has the wrong length"));
        }
        Ok(Self {
            version,
            key_hint,
            ciphertext,
        })
    }

    /// Decrypts with whichever platform key matches the hint.
    pub fn open(&self, keys: &dyn Sm2Decrypter) -> Result<SignedQrBody, ProtoError> {
        let mut candidates = keys
            .key_ids()
            .into_iter()
            .filter(|id| key_hint(id) == self.key_hint)
            .peekable();
        if candidates.peek().is_none() {
            return Err(ProtoError::new(
                ResultCode::QrUnknownKey,
                "no platform key matches the QR key hint",
            ));
        }
        for id in candidates {
            if let Ok(plain) = keys.decrypt(&id, &self.ciphertext) {
                return parse_body(&plain, id);
            }
        }
        Err(malformed("QR ciphertext does not decrypt"))
    }
}

fn parse_body(plain: &[u8], platform_key_id: KeyId) -> Result<SignedQrBody, ProtoError> {
    if plain.len() != BODY_LEN {
        return Err(malformed("QR body has the wrong length"));
    }
    let mut r = Reader::with_code(plain, ResultCode::QrMalformed);
    let body = QrBody {
        cred_id: CredentialId(r.array()?),
        issued_at: r.u64()?,
        counter: r.u32()?,
        nonce: r.array()?,
    };
    let signature = Sm2Signature::from_bytes(&r.array::<64>()?)
        .map_err(|_| ProtoError::new(ResultCode::QrSignatureInvalid, "QR signature is malformed"))?;
    Ok(SignedQrBody {
        body,
        signature,
        platform_key_id,
    })
}

impl SignedQrBody {
    /// Checks the device signature with the key bound to the credential.
    pub fn verify(&self, device: &Sm2PublicKey) -> Result<QrBody, ProtoError> {
        device
            .verify(&self.body.signing_input(), &self.signature)
            .map_err(|_| {
                ProtoError::new(ResultCode::QrSignatureInvalid, "device signature does not verify")
            })?;
        Ok(self.body)
    }
}
