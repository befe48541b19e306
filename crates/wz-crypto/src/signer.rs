//! Signing behind a trait, so that a device key can live in a phone's secure
//! element or a platform key behind a PKCS#11 token: callers hold a
//! `&dyn Sm2Signer`, never key bytes.

use crate::{KeyId, Result, Sm2PrivateKey, Sm2PublicKey, Sm2Signature};

/// Something that signs with an SM2 key (default user id) and can name it.
pub trait Sm2Signer {
    /// Signs `msg` with the default signer identity.
    fn sign(&self, msg: &[u8]) -> Result<Sm2Signature>;
    /// The public half of the signing key.
    fn public_key(&self) -> &Sm2PublicKey;
    /// Its key id.
    fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }
}

impl Sm2Signer for Sm2PrivateKey {
    fn sign(&self, msg: &[u8]) -> Result<Sm2Signature> {
        Sm2PrivateKey::sign(self, msg)
    }
    fn public_key(&self) -> &Sm2PublicKey {
        Sm2PrivateKey::public_key(self)
    }
}

/// Something that decrypts SM2 ciphertexts addressed to one of its keys.
pub trait Sm2Decrypter {
    /// Decrypts a `C1 | C3 | C2` ciphertext for key `key_id`.
    fn decrypt(&self, key_id: &KeyId, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>>;
    /// Ids of the keys it can decrypt with.
    fn key_ids(&self) -> Vec<KeyId>;
}

impl Sm2Decrypter for crate::Keyring {
    fn decrypt(&self, key_id: &KeyId, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        self.get(key_id)?.decrypt(ciphertext)
    }
    fn key_ids(&self) -> Vec<KeyId> {
        self.ids().collect()
    }
}

impl Sm2Decrypter for Sm2PrivateKey {
    fn decrypt(&self, key_id: &KeyId, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if *key_id != self.key_id() {
            return Err(crate::CryptoError::UnknownKeyId(*key_id));
        }
        Sm2PrivateKey::decrypt(self, ciphertext)
    }
    fn key_ids(&self) -> Vec<KeyId> {
        vec![self.key_id()]
    }
}

/// Something that wraps (encrypts and authenticates) secret key material
/// under a key it never reveals: the platform's master key in software, or
/// a non-extractable key inside a PKCS#11 token. `aad` binds a wrapped key
/// to its usage and id, so one cannot be swapped for another.
pub trait KeyWrapper: Send + Sync {
    /// Wraps `secret`.
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>>;
    /// Unwraps what [`Self::wrap`] made with the same `aad`.
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>>;
    /// Where the wrapping key lives, for logs (never key material).
    fn describe(&self) -> String;
}

impl KeyWrapper for crate::Sm4Key {
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>> {
        self.seal(secret, aad)
    }
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        self.open(wrapped, aad)
    }
    fn describe(&self) -> String {
        "SM4-GCM master key (software)".to_owned()
    }
}
