//! Platform keys: created on first start, stored wrapped under a master
//! key that never touches the database (SM4-GCM in software, or AES-GCM
//! inside a PKCS#11 token), rotated with a drain window.
//!
//! | usage | kind | rotates |
//! |---|---|---|
//! | `signing` | SM2: credentials, verdicts | yes; old public keys stay published while draining |
//! | `encryption` | SM2: QR payloads, PIN blocks | yes; old keys keep opening QR codes while draining |
//! | `data` | SM4: PII columns, photos | not yet: records name their key id so it can |
//! | `pseudonym` | HMAC-SM3 key for RP-scoped pseudonyms | never (pseudonyms would change) |
//! | `index` | HMAC-SM3 key for the ID-number blind index | never (lookups would break) |

use std::collections::BTreeMap;

use wz_crypto::{KeyWrapper, Keyring, Sm2PrivateKey, Sm4Key};
use wz_proto::ResultCode;
use wz_proto::api::{KeyUsage, PublishedKey};
use wz_store::{PlatformKeyRow, Store};
use zeroize::Zeroizing;

use crate::{PlatformError, Result};

/// The key that wraps every platform key: a 16-byte SM4 key given as 32
/// hex digits by file or environment, or a key that never leaves a PKCS#11
/// token (`wz-hsm`), behind [`KeyWrapper`].
pub struct MasterKey(Box<dyn KeyWrapper>);

impl core::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("MasterKey").field(&self.0.describe()).finish()
    }
}

impl MasterKey {
    /// From 32 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let bad = PlatformError::new(ResultCode::InternalError, "master key must be 32 hex digits");
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| bad.clone())?);
        Ok(Self(Box::new(Sm4Key::from_slice(&bytes).map_err(|_| bad)?)))
    }

    /// Any other wrapper, e.g. a PKCS#11 token's non-extractable key.
    pub fn from_wrapper(wrapper: impl KeyWrapper + 'static) -> Self {
        Self(Box::new(wrapper))
    }

    /// Where the master key lives, for the start-up log.
    #[must_use]
    pub fn describe(&self) -> String {
        self.0.describe()
    }

    /// A fresh master key as hex, for `wz admin master-key`.
    pub fn generate_hex() -> Result<Zeroizing<String>> {
        Ok(Zeroizing::new(hex::encode(Sm4Key::generate()?.expose_bytes())))
    }

    fn wrap(&self, usage: &str, key_id: &str, secret: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0.wrap(aad(usage, key_id).as_bytes(), secret)?)
    }

    fn unwrap(&self, row: &PlatformKeyRow) -> Result<Zeroizing<Vec<u8>>> {
        self.0
            .unwrap(aad(&row.usage, &row.key_id).as_bytes(), &row.wrapped)
            .map_err(|_| {
                PlatformError::new(
                    ResultCode::InternalError,
                    "a platform key does not open with this master key",
                )
            })
    }
}

fn aad(usage: &str, key_id: &str) -> String {
    format!("wz-platform-key|{usage}|{key_id}")
}

/// All platform keys, unwrapped, for one process.
#[derive(Debug)]
pub struct PlatformKeys {
    pub signing: Keyring,
    pub encryption: Keyring,
    pub data: BTreeMap<String, Sm4Key>,
    pub data_current: String,
    pub pseudonym: Zeroizing<Vec<u8>>,
    pub index: Zeroizing<Vec<u8>>,
    published: Vec<PublishedKey>,
}

const SM2_USAGES: [&str; 2] = ["signing", "encryption"];
const SYMMETRIC: [(&str, usize); 3] = [("data", 16), ("pseudonym", 32), ("index", 32)];

fn new_row(master: &MasterKey, usage: &str, status: &str, now: u64) -> Result<PlatformKeyRow> {
    if SM2_USAGES.contains(&usage) {
        let key = Sm2PrivateKey::generate()?;
        let key_id = key.key_id().to_string();
        Ok(PlatformKeyRow {
            wrapped: master.wrap(usage, &key_id, key.to_scalar_bytes().as_slice())?,
            public_key: Some(key.public_key().to_sec1_bytes().to_vec()),
            key_id,
            usage: usage.to_owned(),
            status: status.to_owned(),
            created_at: now,
            retire_at: None,
        })
    } else {
        let len = SYMMETRIC
            .iter()
            .find(|(u, _)| *u == usage)
            .map_or(32, |(_, l)| *l);
        let mut secret = Zeroizing::new(vec![0u8; len]);
        wz_crypto::fill_random(&mut secret)?;
        let key_id = hex::encode(wz_crypto::random_array::<8>()?);
        Ok(PlatformKeyRow {
            wrapped: master.wrap(usage, &key_id, &secret)?,
            public_key: None,
            key_id,
            usage: usage.to_owned(),
            status: status.to_owned(),
            created_at: now,
            retire_at: None,
        })
    }
}

impl PlatformKeys {
    /// Loads the keys, creating any usage that has none yet. When several
    /// nodes start at once, the database keeps one current key per usage and
    /// the others reload what won.
    pub async fn load_or_create(store: &Store, master: &MasterKey, now: u64) -> Result<Self> {
        store.retire_drained_platform_keys(now).await?;
        let rows = store.live_platform_keys().await?;
        let mut created = false;
        for usage in SM2_USAGES.iter().chain(SYMMETRIC.iter().map(|(u, _)| u)) {
            if !rows.iter().any(|r| r.usage == *usage && r.status == "current") {
                let row = new_row(master, usage, "current", now)?;
                if store.insert_platform_key(&row, "platform").await.is_ok() {
                    created = true;
                    tracing::info!(usage, key_id = %row.key_id, "created platform key");
                }
            }
        }
        let rows = if created {
            store.live_platform_keys().await?
        } else {
            rows
        };
        Self::from_rows(&rows, master)
    }

    fn from_rows(rows: &[PlatformKeyRow], master: &MasterKey) -> Result<Self> {
        let missing = |u| PlatformError::new(ResultCode::InternalError, u);
        let mut rings: BTreeMap<&str, (Option<Sm2PrivateKey>, Vec<Sm2PrivateKey>)> = BTreeMap::new();
        let mut data = BTreeMap::new();
        let (mut data_current, mut pseudonym, mut index) = (None, None, None);
        let mut published = Vec::new();
        for row in rows {
            let secret = master.unwrap(row)?;
            match row.usage.as_str() {
                u @ ("signing" | "encryption") => {
                    let key = Sm2PrivateKey::from_scalar_bytes(&secret)?;
                    if key.key_id().to_string() != row.key_id {
                        return Err(missing("platform key id does not match its key"));
                    }
                    published.push(PublishedKey {
                        key_id: row.key_id.clone(),
                        usage: if u == "signing" {
                            KeyUsage::Signing
                        } else {
                            KeyUsage::Encryption
                        },
                        public_key: hex::encode(key.public_key().to_sec1_bytes()),
                        current: row.status == "current",
                        not_after: row.retire_at,
                    });
                    let entry = rings.entry(u).or_default();
                    if row.status == "current" {
                        entry.0 = Some(key);
                    } else {
                        entry.1.push(key);
                    }
                }
                "data" => {
                    if row.status == "current" {
                        data_current = Some(row.key_id.clone());
                    }
                    data.insert(row.key_id.clone(), Sm4Key::from_slice(&secret)?);
                }
                "pseudonym" if row.status == "current" => pseudonym = Some(secret),
                "index" if row.status == "current" => index = Some(secret),
                _ => {}
            }
        }
        let mut ring = |u: &'static str| -> Result<Keyring> {
            let (current, others) = rings.remove(u).unwrap_or_default();
            let mut ring = Keyring::new(current.ok_or(missing("no current platform SM2 key"))?);
            for k in others {
                ring.insert(k)?;
            }
            Ok(ring)
        };
        Ok(Self {
            signing: ring("signing")?,
            encryption: ring("encryption")?,
            data,
            data_current: data_current.ok_or(missing("no current data key"))?,
            pseudonym: pseudonym.ok_or(missing("no pseudonym key"))?,
            index: index.ok_or(missing("no index key"))?,
            published,
        })
    }

    /// Rotates an SM2 usage (`signing` or `encryption`): a new current key;
    /// the old one drains for `drain_secs`, then retires.
    pub async fn rotate(
        store: &Store,
        master: &MasterKey,
        usage: KeyUsage,
        actor: &str,
        now: u64,
        drain_secs: u64,
    ) -> Result<String> {
        let row = new_row(master, usage.as_str(), "pending", now)?;
        store
            .rotate_platform_key(&row, now.saturating_add(drain_secs), actor)
            .await?;
        Ok(row.key_id)
    }

    /// Public keys to publish at `GET /v1/keys`.
    #[must_use]
    pub fn published(&self) -> &[PublishedKey] {
        &self.published
    }

    /// The current data key and its id.
    pub fn current_data_key(&self) -> Result<(&str, &Sm4Key)> {
        self.data
            .get(&self.data_current)
            .map(|k| (self.data_current.as_str(), k))
            .ok_or(PlatformError::new(
                ResultCode::InternalError,
                "current data key missing",
            ))
    }
}
