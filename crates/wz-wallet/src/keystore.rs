//! Where the wallet keeps its secrets. [`FileKeystore`] seals them in one
//! file with SM4-GCM under a key derived from the wallet PIN by
//! PBKDF2-HMAC-SM3; a phone's secure element or OS keystore plugs in behind
//! the same [`Keystore`] trait (there the device key never leaves hardware
//! and the hardware enforces the try limit).
//!
//! Wrong PINs are counted in the file: after 3 the wallet locks for 30 s,
//! doubling with each further miss, and the 10th wipes it. A copy of the
//! file can still be attacked offline — the KDF only slows that down — which
//! is why a real phone keeps the device key in hardware.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wz_crypto::Sm4Key;
use zeroize::Zeroizing;

use crate::error::{Result, WalletError};

const FORMAT: &str = "wz-wallet-v1";
/// Wrong PINs after which the wallet starts locking.
pub const LOCK_AFTER: u32 = 3;
/// Wrong PINs after which the wallet wipes itself.
pub const WIPE_AFTER: u32 = 10;
const LOCK_BASE_SECS: u64 = 30;

/// The secrets and counters a wallet keeps, sealed at rest.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct WalletState {
    /// The device SM2 key, PKCS#8 DER, hex.
    pub device_key: Zeroizing<String>,
    /// The credential certificate, hex, once enrolled.
    pub credential: Option<String>,
    /// Masked name and ID number, for `show` only.
    pub holder: Option<Holder>,
    /// Last QR counter used; strictly increasing across restarts.
    pub counter: u32,
    /// Platform clock minus device clock, seconds, learnt at sync.
    pub clock_offset: i64,
    /// The platform this wallet enrols with.
    pub platform_url: String,
    /// SHA-256 (hex) of the platform's TLS certificate, pinned at init.
    #[serde(default)]
    pub tls_pin: Option<String>,
    /// The CA certificates (PEM) the platform's TLS certificate chains to.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// Offer only the RFC 8998 ShangMi TLS suite.
    #[serde(default)]
    pub tls_shangmi: bool,
    /// Optional second unlock gate: the holder's face, checked on the
    /// device before a QR is shown.
    #[serde(default)]
    pub face_gate: Option<FaceGate>,
}

/// The face template a local face check compares with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceGate {
    /// Face model the template was made with.
    pub model_id: String,
    /// Template bytes, hex.
    pub template: String,
}

impl std::fmt::Debug for FaceGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A face template is biometric data: never printed.
        write!(f, "FaceGate({}, <redacted>)", self.model_id)
    }
}

impl std::fmt::Debug for WalletState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletState")
            .field("enrolled", &self.credential.is_some())
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// What the wallet shows about its holder: masked, never the full values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub masked_name: String,
    pub masked_id_number: String,
}

/// A sealed store of [`WalletState`] behind a wallet PIN.
pub trait Keystore: Send + Sync + std::fmt::Debug {
    /// Whether a wallet is stored.
    fn exists(&self) -> bool;
    /// Stores a new wallet sealed under `pin` (refuses to overwrite one).
    fn create(&mut self, pin: &str, state: &WalletState) -> Result<()>;
    /// Opens the wallet; wrong PINs are counted and limited. `now` is unix seconds.
    fn unlock(&mut self, pin: &str, now: u64) -> Result<WalletState>;
    /// Stores a changed state of the unlocked wallet.
    fn save(&mut self, state: &WalletState) -> Result<()>;
    /// Reseals the unlocked wallet under a new PIN.
    fn change_pin(&mut self, new_pin: &str, state: &WalletState) -> Result<()>;
    /// Removes everything.
    fn wipe(&mut self) -> Result<()>;
}

#[derive(Serialize, Deserialize)]
struct SealedFile {
    format: String,
    iterations: u32,
    salt: String,
    sealed: String,
    failed_unlocks: u32,
    locked_until: u64,
}

/// A wallet in one file (written atomically: temp file + rename).
#[derive(Debug)]
pub struct FileKeystore {
    path: PathBuf,
    iterations: u32,
    /// Key and salt of the unlocked wallet.
    open: Option<(Sm4Key, Vec<u8>)>,
}

/// Checks a new wallet PIN's length.
pub fn check_new_pin(pin: &str) -> Result<()> {
    if (6..=64).contains(&pin.chars().count()) {
        Ok(())
    } else {
        Err(WalletError::WeakPin)
    }
}

fn io(e: &std::io::Error) -> WalletError {
    WalletError::Io(e.kind().to_string())
}

fn derive(pin: &str, salt: &[u8], iterations: u32) -> Result<Sm4Key> {
    let k = wz_crypto::pbkdf2_sm3(pin.as_bytes(), salt, iterations)?;
    Ok(Sm4Key::from_slice(
        k.get(..wz_crypto::SM4_KEY_LEN).ok_or(WalletError::Corrupt)?,
    )?)
}

fn aad(iterations: u32, salt: &str) -> Vec<u8> {
    format!("{FORMAT}|{iterations}|{salt}").into_bytes()
}

impl FileKeystore {
    /// A keystore at `path` using the default KDF cost.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self::with_iterations(path, wz_crypto::kdf::DEFAULT_ITERATIONS)
    }

    /// A keystore with a chosen KDF cost (tests use the minimum).
    #[must_use]
    pub fn with_iterations(path: &Path, iterations: u32) -> Self {
        Self {
            path: path.to_owned(),
            iterations,
            open: None,
        }
    }

    fn read(&self) -> Result<SealedFile> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(WalletError::NoWallet),
            Err(e) => return Err(io(&e)),
        };
        let f: SealedFile = serde_json::from_slice(&text).map_err(|_| WalletError::Corrupt)?;
        if f.format != FORMAT {
            return Err(WalletError::Corrupt);
        }
        Ok(f)
    }

    fn write(&self, f: &SealedFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(f).map_err(|_| WalletError::Corrupt)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        }
        let tmp = self.path.with_extension("tmp");
        {
            use std::io::Write as _;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut file = opts.open(&tmp).map_err(|e| io(&e))?;
            file.write_all(&bytes).map_err(|e| io(&e))?;
            file.sync_all().map_err(|e| io(&e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&e))
    }

    fn seal(
        &self,
        key: &Sm4Key,
        salt: &[u8],
        state: &WalletState,
        failed: u32,
        locked_until: u64,
    ) -> Result<()> {
        let salt_hex = hex::encode(salt);
        let plain = Zeroizing::new(serde_json::to_vec(state).map_err(|_| WalletError::Corrupt)?);
        let sealed = key.seal(&plain, &aad(self.iterations, &salt_hex))?;
        self.write(&SealedFile {
            format: FORMAT.to_owned(),
            iterations: self.iterations,
            salt: salt_hex,
            sealed: hex::encode(sealed),
            failed_unlocks: failed,
            locked_until,
        })
    }
}

impl Keystore for FileKeystore {
    fn exists(&self) -> bool {
        self.path.exists()
    }

    fn create(&mut self, pin: &str, state: &WalletState) -> Result<()> {
        check_new_pin(pin)?;
        if self.exists() {
            return Err(WalletError::AlreadyExists);
        }
        self.change_pin(pin, state)
    }

    fn unlock(&mut self, pin: &str, now: u64) -> Result<WalletState> {
        let mut f = self.read()?;
        if f.locked_until > now {
            return Err(WalletError::Locked(f.locked_until - now));
        }
        self.iterations = f.iterations;
        let salt = hex::decode(&f.salt).map_err(|_| WalletError::Corrupt)?;
        let sealed = hex::decode(&f.sealed).map_err(|_| WalletError::Corrupt)?;
        let key = derive(pin, &salt, f.iterations)?;
        match key.open(&sealed, &aad(f.iterations, &f.salt)) {
            Ok(plain) => {
                let state: WalletState = serde_json::from_slice(&plain).map_err(|_| WalletError::Corrupt)?;
                if f.failed_unlocks > 0 {
                    f.failed_unlocks = 0;
                    f.locked_until = 0;
                    self.write(&f)?;
                }
                self.open = Some((key, salt));
                Ok(state)
            }
            Err(_) => {
                f.failed_unlocks += 1;
                if f.failed_unlocks >= WIPE_AFTER {
                    self.wipe()?;
                    return Err(WalletError::WipedAfterFailures);
                }
                if f.failed_unlocks >= LOCK_AFTER {
                    let doublings = (f.failed_unlocks - LOCK_AFTER).min(16);
                    f.locked_until = now + (LOCK_BASE_SECS << doublings);
                }
                self.write(&f)?;
                Err(WalletError::WrongPin {
                    left: WIPE_AFTER - f.failed_unlocks,
                })
            }
        }
    }

    fn save(&mut self, state: &WalletState) -> Result<()> {
        let (key, salt) = self.open.as_ref().ok_or(WalletError::NoWallet)?;
        self.seal(key, salt, state, 0, 0)
    }

    fn change_pin(&mut self, new_pin: &str, state: &WalletState) -> Result<()> {
        check_new_pin(new_pin)?;
        let salt = wz_crypto::random_array::<{ wz_crypto::kdf::SALT_LEN }>()?.to_vec();
        let key = derive(new_pin, &salt, self.iterations)?;
        self.seal(&key, &salt, state, 0, 0)?;
        self.open = Some((key, salt));
        Ok(())
    }

    fn wipe(&mut self) -> Result<()> {
        self.open = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&e)),
        }
    }
}
