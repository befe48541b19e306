/// Everything that can go wrong in `wz-crypto`. Messages never contain key
/// bytes, plaintext or other secrets.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("malformed key encoding")]
    KeyEncoding,
    #[error("key is not on the SM2 curve (OID 1.2.156.10197.1.301)")]
    WrongCurve,
    #[error("malformed signature encoding")]
    SignatureEncoding,
    #[error("signature does not verify")]
    BadSignature,
    #[error("SM2 encryption failed")]
    EncryptFailed,
    #[error("SM2 decryption failed: ciphertext malformed or not for this key")]
    DecryptFailed,
    #[error("SM4-GCM: data could not be authenticated (wrong key, nonce or tampered)")]
    AeadOpen,
    #[error("SM4-GCM: sealed data is malformed or too short")]
    AeadFormat,
    #[error("invalid key length: expected {expected} bytes")]
    KeyLength { expected: usize },
    #[error("password hash string is malformed: {0}")]
    PasswordHashFormat(&'static str),
    #[error("KDF parameters out of range: {0}")]
    KdfParams(&'static str),
    #[error("the system random number generator failed")]
    Rng,
    #[error("no key with id {0} in the keyring")]
    UnknownKeyId(crate::KeyId),
    #[error("a key with id {0} is already in the keyring")]
    DuplicateKeyId(crate::KeyId),
    #[error("invalid key id text")]
    KeyIdFormat,
    #[error("key token: {0}")]
    Token(String),
}

pub type Result<T, E = CryptoError> = core::result::Result<T, E>;
