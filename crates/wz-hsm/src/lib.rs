//! The platform's master key inside a PKCS#11 token.
//!
//! Every platform key (SM2 signing and encryption keys, the SM4 data key,
//! the pseudonym and blind-index keys) is stored in the database wrapped
//! under the master key. With this crate the master key is an AES-256 key
//! generated *inside* the token — sensitive, non-extractable — and the
//! platform keys are wrapped and unwrapped there with `CKM_AES_GCM`
//! (12-byte IV from the token's generator, 128-bit tag, the key's usage and
//! id as additional data). The SM2 operations themselves stay in software:
//! SoftHSM2 (the token the tests use) offers no SM2 or SM4 mechanism, and a
//! vendor HSM with a GM/T 0018 SM2 mechanism would plug in behind
//! `wz_crypto::Sm2Signer` / `Sm2Decrypter` instead. `docs/security.md` says
//! what this protects and what it does not.
//!
//! Wrapped format: `iv(12) | ciphertext | tag(16)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use wz_crypto::{CryptoError, KeyWrapper};
use zeroize::Zeroizing;

const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
const TAG_LEN: usize = 16;

/// Why the token could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("PKCS#11 module {0} could not be loaded: {1}")]
    Module(String, String),
    #[error("no PKCS#11 token labelled {0:?}")]
    NoToken(String),
    #[error("no wrapping key labelled {0:?} in the token: create one with `wz admin hsm-keygen`")]
    NoKey(String),
    #[error("more than one key labelled {0:?} in the token")]
    AmbiguousKey(String),
    #[error("a key labelled {0:?} already exists in the token")]
    KeyExists(String),
    #[error("PKCS#11: {0}")]
    Pkcs11(#[from] CkError),
}

/// Where the token and the key are.
#[derive(Clone)]
pub struct HsmConfig {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The wrapping key's label inside the token.
    pub key_label: String,
    /// The token's user PIN.
    pub pin: Zeroizing<String>,
}

impl core::fmt::Debug for HsmConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HsmConfig")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// The master key in a token: wraps and unwraps, never reveals.
pub struct Pkcs11Wrapper {
    // A PKCS#11 session is not to be used from two threads at once.
    session: Mutex<Session>,
    key: ObjectHandle,
    describe: String,
    _context: Pkcs11,
}

impl core::fmt::Debug for Pkcs11Wrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// One initialised context per module for the whole process: dropping the
/// last handle of a context finalises the module, which would pull it from
/// under every other wrapper.
fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Mutex::default)
        .lock()
        .map_err(|_| HsmError::Module(module.display().to_string(), "context table poisoned".into()))?;
    if let Some(c) = contexts.get(module) {
        return Ok(c.clone());
    }
    let context =
        Pkcs11::new(module).map_err(|e| HsmError::Module(module.display().to_string(), e.to_string()))?;
    match context.initialize(CInitializeArgs::OsThreads) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(e.into()),
    }
    contexts.insert(module.to_owned(), context.clone());
    Ok(context)
}

fn login(config: &HsmConfig) -> Result<(Pkcs11, Session), HsmError> {
    let context = context(&config.module)?;
    let slot = context
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            context
                .get_token_info(*s)
                .is_ok_and(|t| t.label().trim_end() == config.token_label)
        })
        .ok_or_else(|| HsmError::NoToken(config.token_label.clone()))?;
    let session = context.open_rw_session(slot)?;
    let pin = AuthPin::new(config.pin.as_str().into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok((context, session))
}

fn find_key(session: &Session, label: &str) -> Result<Option<ObjectHandle>, HsmError> {
    let found = session.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(HsmError::AmbiguousKey(label.to_owned())),
    }
}

impl Pkcs11Wrapper {
    /// Logs in and finds the wrapping key.
    pub fn open(config: &HsmConfig) -> Result<Self, HsmError> {
        let (context, session) = login(config)?;
        let key = find_key(&session, &config.key_label)?
            .ok_or_else(|| HsmError::NoKey(config.key_label.clone()))?;
        Ok(Self::new(context, session, key, config))
    }

    /// Generates the wrapping key inside the token (AES-256, sensitive,
    /// non-extractable, a token object), refusing if one exists.
    pub fn generate(config: &HsmConfig) -> Result<Self, HsmError> {
        let (context, session) = login(config)?;
        if find_key(&session, &config.key_label)?.is_some() {
            return Err(HsmError::KeyExists(config.key_label.clone()));
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
        ];
        let key = session.generate_key(&Mechanism::AesKeyGen, &template)?;
        Ok(Self::new(context, session, key, config))
    }

    fn new(context: Pkcs11, session: Session, key: ObjectHandle, config: &HsmConfig) -> Self {
        Self {
            session: Mutex::new(session),
            key,
            describe: format!(
                "AES-256-GCM key {:?} in PKCS#11 token {:?} ({})",
                config.key_label,
                config.token_label,
                config.module.display()
            ),
            _context: context,
        }
    }

    /// Whether the token would hand out the key's value (it must not).
    pub fn key_is_extractable(&self) -> Result<bool, HsmError> {
        let session = self.session()?;
        let attrs =
            session.get_attributes(self.key, &[AttributeType::Extractable, AttributeType::Sensitive])?;
        let mut extractable = true;
        let mut sensitive = false;
        for a in attrs {
            match a {
                Attribute::Extractable(e) => extractable = e,
                Attribute::Sensitive(s) => sensitive = s,
                _ => {}
            }
        }
        Ok(extractable || !sensitive)
    }

    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, HsmError> {
        self.session.lock().map_err(|_| {
            HsmError::Pkcs11(CkError::Pkcs11(
                RvError::GeneralError,
                cryptoki::context::Function::Encrypt,
            ))
        })
    }
}

fn token_error(e: impl core::fmt::Display) -> CryptoError {
    CryptoError::Token(e.to_string())
}

impl KeyWrapper for Pkcs11Wrapper {
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> wz_crypto::Result<Vec<u8>> {
        let session = self.session().map_err(token_error)?;
        let mut iv = [0u8; IV_LEN];
        session.generate_random_slice(&mut iv).map_err(token_error)?;
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, aad, TAG_BITS.into()).map_err(token_error)?;
        let sealed = session
            .encrypt(&Mechanism::AesGcm(params), self.key, secret)
            .map_err(token_error)?;
        Ok([iv.as_slice(), &sealed].concat())
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> wz_crypto::Result<Zeroizing<Vec<u8>>> {
        if wrapped.len() < IV_LEN + TAG_LEN {
            return Err(CryptoError::AeadFormat);
        }
        let (iv, sealed) = wrapped.split_at(IV_LEN);
        let mut iv: [u8; IV_LEN] = iv.try_into().map_err(|_| CryptoError::AeadFormat)?;
        let session = self.session().map_err(token_error)?;
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(token_error)?;
        session
            .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::AeadOpen)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
