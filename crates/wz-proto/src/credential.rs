//! The credential certificate the platform issues to a wallet.
//!
//! Encoding (chosen for being canonical by construction: every field has a
//! fixed width and position, so one certificate has exactly one encoding and
//! there is nothing to normalise before signing or comparing):
//!
//! ```text
//! tbs  = "WZC" | format(1)=0x01 | cred_id(16) | level(1) | device_pub(65, SEC1 uncompressed)
//!      | not_before(8, unix s, BE) | not_after(8, unix s, BE) | issuer_key_id(8)
//! cert = tbs | signature(64, raw r|s, SM2 over "wz-cred-v1" | tbs, default user id)
//! ```
//!
//! 174 bytes in all. No personal data: the certificate binds a random
//! credential id to the device key; the platform alone knows whose it is.

use core::fmt;

use serde::{Deserialize, Serialize};
use wz_crypto::{KeyId, Sm2PublicKey, Sm2Signature, Sm2Signer};

use crate::{ProtoError, ResultCode};

const MAGIC: &[u8; 3] = b"WZC";
const FORMAT: u8 = 0x01;
const SIGN_DOMAIN: &[u8] = b"wz-cred-v1";
/// Length of the signed part.
pub const TBS_LEN: usize = 3 + 1 + 16 + 1 + 65 + 8 + 8 + 8;
/// Length of an encoded certificate.
pub const CERT_LEN: usize = TBS_LEN + 64;

/// A credential's random, PII-free id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CredentialId(pub [u8; 16]);

impl CredentialId {
    /// A fresh random id.
    pub fn random() -> Result<Self, ProtoError> {
        Ok(Self(wz_crypto::random_array()?))
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({self})")
    }
}
impl From<CredentialId> for String {
    fn from(c: CredentialId) -> Self {
        c.to_string()
    }
}
impl TryFrom<String> for CredentialId {
    type Error = ProtoError;
    fn try_from(s: String) -> Result<Self, ProtoError> {
        s.parse()
    }
}
impl core::str::FromStr for CredentialId {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, ProtoError> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).map_err(|_| {
            ProtoError::new(
                ResultCode::RequestMalformed,
                "credential id must be 32 hex digits",
            )
        })?;
        Ok(Self(out))
    }
}

/// Assurance level of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 轻量版: issued online from four items and a live face.
    Lightweight = 1,
    /// 升级版: issued at a trusted terminal from the card chip, face and PIN.
    Upgraded = 2,
}

impl Level {
    /// The wire name: `lightweight` or `upgraded`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Lightweight => "lightweight",
            Self::Upgraded => "upgraded",
        }
    }

    fn from_byte(b: u8) -> Result<Self, ProtoError> {
        match b {
            1 => Ok(Self::Lightweight),
            2 => Ok(Self::Upgraded),
            _ => Err(invalid("unknown credential level")),
        }
    }
}

/// The unsigned content of a credential certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBody {
    pub cred_id: CredentialId,
    pub level: Level,
    pub device_public_key: Sm2PublicKey,
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
    /// Id of the platform signing key.
    pub issuer_key_id: KeyId,
}

/// A certificate with its platform signature. Holding one says nothing until
/// [`CredentialCert::verify`] has been called with the issuer's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialCert {
    pub body: CredentialBody,
    pub signature: Sm2Signature,
}

const fn invalid(reason: &'static str) -> ProtoError {
    ProtoError::new(ResultCode::CredentialInvalid, reason)
}

impl CredentialBody {
    /// The canonical signed bytes.
    #[must_use]
    pub fn tbs_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TBS_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.cred_id.0);
        out.push(self.level as u8);
        out.extend_from_slice(&self.device_public_key.to_sec1_bytes());
        out.extend_from_slice(&self.not_before.to_be_bytes());
        out.extend_from_slice(&self.not_after.to_be_bytes());
        out.extend_from_slice(self.issuer_key_id.as_bytes());
        out
    }

    fn signing_input(tbs: &[u8]) -> Vec<u8> {
        [SIGN_DOMAIN, tbs].concat()
    }

    /// Signs with the platform key; the key's id must be `issuer_key_id`.
    pub fn sign(self, issuer: &dyn Sm2Signer) -> Result<CredentialCert, ProtoError> {
        if issuer.key_id() != self.issuer_key_id {
            return Err(ProtoError::new(
                ResultCode::InternalError,
                "issuer key id does not match signer",
            ));
        }
        if self.not_after <= self.not_before {
            return Err(invalid("validity period is empty"));
        }
        let signature = issuer.sign(&Self::signing_input(&self.tbs_bytes()))?;
        Ok(CredentialCert {
            body: self,
            signature,
        })
    }
}

impl CredentialCert {
    /// The canonical 174-byte encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body.tbs_bytes();
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Decodes without checking the signature (see [`Self::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        let bytes: &[u8; CERT_LEN] = bytes
            .try_into()
            .map_err(|_| invalid("credential certificate has the wrong length"))?;
        let mut r = crate::reader::Reader::new(bytes);
        if r.array::<3>()? != *MAGIC {
            return Err(invalid("not a credential certificate"));
        }
        if r.u8()? != FORMAT {
            return Err(invalid("unsupported credential format"));
        }
        let cred_id = CredentialId(r.array()?);
        let level = Level::from_byte(r.u8()?)?;
        let device_public_key = Sm2PublicKey::from_sec1_bytes(&r.array::<65>()?)
            .map_err(|_| invalid("device key is not a valid SM2 point"))?;
        let not_before = r.u64()?;
        let not_after = r.u64()?;
        let issuer_key_id = KeyId(r.array()?);
        let signature =
            Sm2Signature::from_bytes(&r.array::<64>()?).map_err(|_| invalid("signature is malformed"))?;
        Ok(Self {
            body: CredentialBody {
                cred_id,
                level,
                device_public_key,
                not_before,
                not_after,
                issuer_key_id,
            },
            signature,
        })
    }

    /// Checks the platform signature with `issuer`, whose key id must match.
    pub fn verify(&self, issuer: &Sm2PublicKey) -> Result<(), ProtoError> {
        if issuer.key_id() != self.body.issuer_key_id {
            return Err(invalid("certificate was issued under another key"));
        }
        issuer
            .verify(
                &CredentialBody::signing_input(&self.body.tbs_bytes()),
                &self.signature,
            )
            .map_err(|_| invalid("platform signature does not verify"))
    }

    /// Checks the validity period at `now` (unix seconds).
    pub fn check_validity(&self, now: u64) -> Result<(), ProtoError> {
        if now < self.body.not_before || now >= self.body.not_after {
            return Err(ProtoError::new(
                ResultCode::CredentialExpired,
                "outside the validity period",
            ));
        }
        Ok(())
    }
}
