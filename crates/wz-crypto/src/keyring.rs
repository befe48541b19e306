//! A set of SM2 keys by id, with one current key, for rotation: new
//! signatures and encryptions use the current key; older keys stay for
//! decrypting and verifying until they are retired after a drain window.

use std::collections::BTreeMap;

use crate::{CryptoError, KeyId, Result, Sm2PrivateKey, Sm2PublicKey};

/// Keys by id; one is current. `Debug` shows ids only.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: BTreeMap<KeyId, Sm2PrivateKey>,
    current: KeyId,
}

impl Keyring {
    /// A keyring holding one key, which is current.
    #[must_use]
    pub fn new(first: Sm2PrivateKey) -> Self {
        let current = first.key_id();
        let mut keys = BTreeMap::new();
        keys.insert(current, first);
        Self { keys, current }
    }

    /// The current key.
    #[must_use]
    pub fn current(&self) -> &Sm2PrivateKey {
        // `current` is always a key of the map (see `rotate`/`retire`).
        self.keys
            .get(&self.current)
            .unwrap_or_else(|| unreachable!("current key id always present"))
    }

    /// Id of the current key.
    #[must_use]
    pub fn current_id(&self) -> KeyId {
        self.current
    }

    /// The key with id `id`.
    pub fn get(&self, id: &KeyId) -> Result<&Sm2PrivateKey> {
        self.keys.get(id).ok_or(CryptoError::UnknownKeyId(*id))
    }

    /// Adds `key` without making it current.
    pub fn insert(&mut self, key: Sm2PrivateKey) -> Result<KeyId> {
        let id = key.key_id();
        if self.keys.contains_key(&id) {
            return Err(CryptoError::DuplicateKeyId(id));
        }
        self.keys.insert(id, key);
        Ok(id)
    }

    /// Adds `key` and makes it current; the previous key stays for draining.
    pub fn rotate(&mut self, key: Sm2PrivateKey) -> Result<KeyId> {
        let id = self.insert(key)?;
        self.current = id;
        Ok(id)
    }

    /// Removes a non-current key (its drain window is over).
    pub fn retire(&mut self, id: &KeyId) -> Result<Sm2PrivateKey> {
        if *id == self.current {
            return Err(CryptoError::UnknownKeyId(*id));
        }
        self.keys.remove(id).ok_or(CryptoError::UnknownKeyId(*id))
    }

    /// All ids, current included.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }

    /// All public keys, for publishing.
    pub fn public_keys(&self) -> impl Iterator<Item = &Sm2PublicKey> {
        self.keys.values().map(Sm2PrivateKey::public_key)
    }

    /// Number of keys held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true: a keyring always has its current key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
