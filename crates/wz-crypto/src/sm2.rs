//! SM2 (GB/T 32918) key pairs, signatures with the Z_A user-id digest, and
//! public-key encryption (part 4), over RustCrypto's `sm2` crate.
//!
//! * Signatures are deterministic (RFC 6979-style nonce derivation, as the
//!   `sm2` crate does), so signing never depends on a working RNG.
//! * Ciphertexts are produced in the GB/T 32918.4-2016 order `C1 | C3 | C2`
//!   with an uncompressed `C1`. [`Sm2PrivateKey::decrypt_with_layout`] also
//!   accepts the legacy 2010-draft order `C1 | C2 | C3`; plain
//!   [`Sm2PrivateKey::decrypt`] accepts only `C1 | C3 | C2`.

use std::sync::{Arc, LazyLock};

use sm2::dsa::signature::Signer;
use sm2::dsa::{Signature, SigningKey};
use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm2::{NonZeroScalar, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::hash::sm3;
use crate::sm2_verify::{self, FixedBaseTable};
use crate::{CryptoError, KeyId, Result};

/// The default signer identity of GB/T 32918 / GM/T 0009, used for Z_A.
pub const DEFAULT_USER_ID: &str = "1234567812345678";
/// Length of an uncompressed SEC1 public point.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a raw `r | s` signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes SM2 encryption adds to a plaintext (uncompressed C1 + SM3 C3).
pub const CIPHERTEXT_OVERHEAD: usize = 65 + 32;

/// Order of the parts of an SM2 ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CipherLayout {
    /// GB/T 32918.4-2016 and GM/T 0003.4-2012: `C1 | C3 | C2`.
    #[default]
    C1C3C2,
    /// The 2010 draft order, still emitted by some older libraries.
    C1C2C3,
}

impl From<CipherLayout> for Mode {
    fn from(l: CipherLayout) -> Self {
        match l {
            CipherLayout::C1C3C2 => Mode::C1C3C2,
            CipherLayout::C1C2C3 => Mode::C1C2C3,
        }
    }
}

/// An SM2 signature (r, s).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sm2Signature(Signature);

impl core::fmt::Debug for Sm2Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sm2Signature({})", hex::encode(self.to_bytes()))
    }
}

impl Sm2Signature {
    /// Parses the raw 64-byte `r | s` form; r and s must be in [1, n-1].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SIGNATURE_LEN {
            return Err(CryptoError::SignatureEncoding);
        }
        Signature::from_slice(bytes)
            .map(Self)
            .map_err(|_| CryptoError::SignatureEncoding)
    }

    /// Parses the ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` form.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Signature::from_der(der)
            .map(Self)
            .map_err(|_| CryptoError::SignatureEncoding)
    }

    /// The raw 64-byte `r | s` form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.to_bytes().into()
    }

    /// The ASN.1 DER form.
    #[must_use]
    pub fn to_der(&self) -> Vec<u8> {
        self.0.to_der().to_vec()
    }
}

/// An SM2 public key, usable for verifying and encrypting.
#[derive(Clone)]
pub struct Sm2PublicKey {
    public: PublicKey,
    point: sm2::ProjectivePoint,
    /// Z_A over the default user id, computed once.
    za: [u8; 32],
    /// For keys that verify many signatures: see [`Sm2PublicKey::with_verify_table`].
    table: Option<Arc<FixedBaseTable>>,
    encrypting: EncryptingKey,
    key_id: KeyId,
}

impl PartialEq for Sm2PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}
impl Eq for Sm2PublicKey {}

impl core::fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sm2PublicKey({})", self.key_id)
    }
}

impl Sm2PublicKey {
    fn from_public(public: PublicKey) -> Result<Self> {
        let sec1 = Self::uncompressed(&public);
        let za = sm2_verify::identity_hash(DEFAULT_USER_ID, &sec1).ok_or(CryptoError::KeyEncoding)?;
        let encrypting = EncryptingKey::new_with_mode(public, Mode::C1C3C2);
        let der = public.to_public_key_der().map_err(|_| CryptoError::KeyEncoding)?;
        let key_id = KeyId::of_der(der.as_bytes());
        Ok(Self {
            public,
            point: public.to_projective(),
            za,
            table: None,
            encrypting,
            key_id,
        })
    }

    /// Parses a SEC1 point (65-byte uncompressed `04|x|y`, or 33-byte compressed).
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self> {
        let public = PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::KeyEncoding)?;
        Self::from_public(public)
    }

    /// Parses a DER SubjectPublicKeyInfo; the curve must be SM2.
    pub fn from_public_key_der(der: &[u8]) -> Result<Self> {
        let public = PublicKey::from_public_key_der(der).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_public(public)
    }

    /// Parses a PEM `PUBLIC KEY` block; the curve must be SM2.
    pub fn from_public_key_pem(pem: &str) -> Result<Self> {
        let public = PublicKey::from_public_key_pem(pem).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_public(public)
    }

    /// The uncompressed SEC1 point `04 | x | y`.
    #[must_use]
    pub fn to_sec1_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        Self::uncompressed(&self.public)
    }

    fn uncompressed(public: &PublicKey) -> [u8; PUBLIC_KEY_LEN] {
        let point = public.to_sec1_point(false);
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The same key with a precomputed table of its multiples: each later
    /// verification is then about 2.7 times faster than a plain one.
    /// Building it costs a few verifications and 50 KiB, so it pays only for a key
    /// that verifies many signatures (a relying party's request key, the
    /// card authority); a device key seen once should not have one.
    #[must_use]
    pub fn with_verify_table(mut self) -> Self {
        if self.table.is_none() {
            self.table = Some(Arc::new(FixedBaseTable::new(self.point)));
        }
        self
    }

    /// Whether [`Sm2PublicKey::with_verify_table`] was applied.
    #[must_use]
    pub fn has_verify_table(&self) -> bool {
        self.table.is_some()
    }

    /// DER SubjectPublicKeyInfo (algorithm id-ecPublicKey, curve 1.2.156.10197.1.301).
    pub fn to_public_key_der(&self) -> Result<Vec<u8>> {
        self.public
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|_| CryptoError::KeyEncoding)
    }

    /// PEM `PUBLIC KEY`.
    pub fn to_public_key_pem(&self) -> Result<String> {
        self.public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| CryptoError::KeyEncoding)
    }

    /// First 8 bytes of SM3 over the DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Verifies a signature made with the default user id.
    pub fn verify(&self, msg: &[u8], sig: &Sm2Signature) -> Result<()> {
        self.verify_over(&self.za, msg, sig)
    }

    fn verify_over(&self, za: &[u8; 32], msg: &[u8], sig: &Sm2Signature) -> Result<()> {
        let (r, s) = (*sig.0.r(), *sig.0.s());
        if sm2_verify::verify(za, &self.point, self.table.as_deref(), msg, &r, &s) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Verifies a signature made with another signer identity.
    pub fn verify_with_id(&self, user_id: &str, msg: &[u8], sig: &Sm2Signature) -> Result<()> {
        let za = sm2_verify::identity_hash(user_id, &self.to_sec1_bytes()).ok_or(CryptoError::KeyEncoding)?;
        self.verify_over(&za, msg, sig)
    }

    /// Encrypts `msg` to this key; output is `C1 | C3 | C2`.
    pub fn encrypt(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.encrypting
            .encrypt(&mut SysRng, msg)
            .map_err(|_| CryptoError::EncryptFailed)
    }

    /// Encrypts with a caller-supplied RNG: for known-answer tests only.
    #[doc(hidden)]
    pub fn encrypt_with_rng<R: sm2::elliptic_curve::rand_core::TryCryptoRng>(
        &self,
        rng: &mut R,
        msg: &[u8],
    ) -> Result<Vec<u8>> {
        self.encrypting
            .encrypt(rng, msg)
            .map_err(|_| CryptoError::EncryptFailed)
    }
}

/// Upstream `SigningKey`/`DecryptingKey` keep a copy of the secret scalar and
/// do not wipe it on drop; we overwrite ours with this public dummy (scalar 1)
/// when an [`Sm2PrivateKey`] is dropped.
static WIPED: LazyLock<Option<(SigningKey, DecryptingKey)>> = LazyLock::new(|| {
    let one: NonZeroScalar = Option::from(NonZeroScalar::new(sm2::Scalar::ONE))?;
    let signing = SigningKey::from_nonzero_scalar(DEFAULT_USER_ID, one).ok()?;
    Some((signing, DecryptingKey::new_with_mode(one, Mode::C1C3C2)))
});

/// An SM2 private key. Zeroized on drop; `Debug` shows only the key id.
pub struct Sm2PrivateKey {
    secret: SecretKey,
    signing: Box<SigningKey>,
    decrypting: Box<DecryptingKey>,
    public: Sm2PublicKey,
}

impl Drop for Sm2PrivateKey {
    fn drop(&mut self) {
        // `secret` zeroizes itself. Overwrite the upstream copies in place;
        // black_box keeps the stores from being optimised away.
        if let Some((s, d)) = WIPED.as_ref() {
            *self.signing = s.clone();
            *self.decrypting = d.clone();
            std::hint::black_box(&self.signing);
            std::hint::black_box(&self.decrypting);
        }
    }
}

impl core::fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sm2PrivateKey({}, <redacted>)", self.public.key_id)
    }
}

impl Clone for Sm2PrivateKey {
    fn clone(&self) -> Self {
        Self {
            secret: self.secret.clone(),
            signing: self.signing.clone(),
            decrypting: self.decrypting.clone(),
            public: self.public.clone(),
        }
    }
}

impl Sm2PrivateKey {
    fn from_secret(secret: SecretKey) -> Result<Self> {
        let scalar = secret.to_nonzero_scalar();
        let signing =
            SigningKey::from_nonzero_scalar(DEFAULT_USER_ID, scalar).map_err(|_| CryptoError::KeyEncoding)?;
        let decrypting = DecryptingKey::new_with_mode(scalar, Mode::C1C3C2);
        let public = Sm2PublicKey::from_public(secret.public_key())?;
        Ok(Self {
            secret,
            signing: Box::new(signing),
            decrypting: Box::new(decrypting),
            public,
        })
    }

    /// A fresh key pair from the OS RNG.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        // Rejection sampling: a uniformly random 256-bit string is a valid
        // scalar (in [1, n-1]) with probability ~1 - 2^-32.
        for _ in 0..16 {
            crate::rng::fill_random(bytes.as_mut_slice())?;
            if let Ok(secret) = SecretKey::from_slice(bytes.as_slice()) {
                return Self::from_secret(secret);
            }
        }
        Err(CryptoError::Rng)
    }

    /// A key from its 32-byte big-endian scalar.
    pub fn from_scalar_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(CryptoError::KeyLength { expected: 32 });
        }
        let secret = SecretKey::from_slice(bytes).map_err(|_| CryptoError::KeyEncoding)?;
        Self::from_secret(secret)
    }

    /// The 32-byte scalar; zeroized on drop.
    #[must_use]
    pub fn to_scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// Parses PKCS#8 DER; the curve must be SM2.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_secret(secret)
    }

    /// Parses a PEM `PRIVATE KEY` (PKCS#8) block; the curve must be SM2.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let secret = SecretKey::from_pkcs8_pem(pem).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_secret(secret)
    }

    /// Parses SEC1 `ECPrivateKey` DER; the curve must be SM2.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        let secret = SecretKey::from_sec1_der(der).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_secret(secret)
    }

    /// Parses a PEM `EC PRIVATE KEY` (SEC1) block; the curve must be SM2.
    pub fn from_sec1_pem(pem: &str) -> Result<Self> {
        let secret = SecretKey::from_sec1_pem(pem).map_err(|_| CryptoError::WrongCurve)?;
        Self::from_secret(secret)
    }

    /// Parses either PEM form, by its label.
    pub fn from_pem(pem: &str) -> Result<Self> {
        if pem.contains("BEGIN EC PRIVATE KEY") {
            Self::from_sec1_pem(pem)
        } else {
            Self::from_pkcs8_pem(pem)
        }
    }

    /// PKCS#8 DER with the SM2 curve OID; zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.secret
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|_| CryptoError::KeyEncoding)
    }

    /// PKCS#8 PEM; zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| CryptoError::KeyEncoding)
    }

    /// SEC1 `ECPrivateKey` DER; zeroized on drop.
    pub fn to_sec1_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.secret.to_sec1_der().map_err(|_| CryptoError::KeyEncoding)
    }

    /// SEC1 PEM; zeroized on drop.
    pub fn to_sec1_pem(&self) -> Result<Zeroizing<String>> {
        self.secret
            .to_sec1_pem(LineEnding::LF)
            .map_err(|_| CryptoError::KeyEncoding)
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> &Sm2PublicKey {
        &self.public
    }

    /// Key id of the public half.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.public.key_id
    }

    /// Signs with the default user id `1234567812345678`.
    pub fn sign(&self, msg: &[u8]) -> Result<Sm2Signature> {
        self.signing
            .try_sign(msg)
            .map(Sm2Signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Signs with another signer identity (Z_A computed over `user_id`).
    pub fn sign_with_id(&self, user_id: &str, msg: &[u8]) -> Result<Sm2Signature> {
        let sk = SigningKey::new(user_id, &self.secret).map_err(|_| CryptoError::KeyEncoding)?;
        sk.try_sign(msg)
            .map(Sm2Signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Decrypts a `C1 | C3 | C2` ciphertext; the plaintext zeroizes on drop.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if ciphertext.len() < CIPHERTEXT_OVERHEAD - 32 {
            return Err(CryptoError::DecryptFailed);
        }
        self.decrypting
            .decrypt(ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptFailed)
    }

    /// Decrypts a ciphertext in the given layout.
    pub fn decrypt_with_layout(&self, ciphertext: &[u8], layout: CipherLayout) -> Result<Zeroizing<Vec<u8>>> {
        match layout {
            CipherLayout::C1C3C2 => self.decrypt(ciphertext),
            CipherLayout::C1C2C3 => {
                let dk = DecryptingKey::new_with_mode(self.secret.to_nonzero_scalar(), layout.into());
                dk.decrypt(ciphertext)
                    .map(Zeroizing::new)
                    .map_err(|_| CryptoError::DecryptFailed)
            }
        }
    }
}

/// The key id of a DER SubjectPublicKeyInfo (first 8 bytes of its SM3).
pub(crate) fn key_id_of_der(der: &[u8]) -> [u8; 8] {
    let d = sm3(der);
    let mut id = [0u8; 8];
    id.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    id
}
