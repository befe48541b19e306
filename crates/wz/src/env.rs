//! The edge: configuration, master key, clock, logging.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use wz_platform::PlatformConfig;
use wz_platform::keys::MasterKey;

/// Unix seconds now. The only clock read outside the HTTP edge.
#[allow(clippy::disallowed_methods)]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Config from `--config` (TOML) if given, then `WZ_*` environment overrides.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<PlatformConfig> {
    let mut config = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            PlatformConfig::from_toml(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => PlatformConfig::default(),
    };
    config.apply_env(|k| std::env::var(k).ok());
    Ok(config)
}

/// Sets `key = value` in a TOML config file, keeping everything else (and
/// comments) as it is; creates the file if missing. The result must still
/// parse as a platform config.
pub fn set_config_value(path: &Path, key: &str, value: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = format!("{key} = {value}");
    let mut found = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let is_key = l.split('=').next().is_some_and(|k| k.trim() == key);
            if is_key && !found {
                found = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !found {
        // Top-level keys must come before any [table].
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .unwrap_or(lines.len());
        lines.insert(at, line);
    }
    let new = lines.join("\n") + "\n";
    PlatformConfig::from_toml(&new)
        .with_context(|| format!("{} would not be a valid config", path.display()))?;
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Directory of a `sqlite://` database file, created if missing.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    let dir = Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    })
}

/// Creates the SQLite data directory if the database lives in one.
pub fn prepare_data_dir(config: &PlatformConfig) -> anyhow::Result<()> {
    if let Some(dir) = sqlite_dir(&config.database_url) {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// The master key: `WZ_MASTER_KEY`, else `master_key_file`, else (embedded
/// SQLite only) `master.key` beside the database, created on first start.
pub fn master_key(config: &PlatformConfig) -> anyhow::Result<MasterKey> {
    if let Some(hsm) = &config.hsm {
        let wrapper = wz_hsm::Pkcs11Wrapper::open(&hsm_config(hsm)?)?;
        tracing::info!(master_key = %wz_crypto::KeyWrapper::describe(&wrapper), "master key in a PKCS#11 token");
        return Ok(MasterKey::from_wrapper(wrapper));
    }
    // The hex text is a secret too: wiped as soon as the key is parsed.
    if let Ok(hex) = std::env::var("WZ_MASTER_KEY").map(zeroize::Zeroizing::new) {
        return Ok(MasterKey::from_hex(&hex)?);
    }
    let file = match (&config.master_key_file, sqlite_dir(&config.database_url)) {
        (Some(f), _) => PathBuf::from(f),
        (None, Some(dir)) => {
            let f = dir.join("master.key");
            if !f.exists() {
                write_secret(&f, MasterKey::generate_hex()?.as_bytes())?;
                tracing::warn!(
                    path = %f.display(),
                    "created a master key beside the SQLite database; in production keep it in a secret store and pass WZ_MASTER_KEY"
                );
            }
            f
        }
        (None, None) => {
            bail!("set WZ_MASTER_KEY or master_key_file: PostgreSQL deployments need an explicit master key")
        }
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&file).with_context(|| format!("reading master key {}", file.display()))?,
    );
    Ok(MasterKey::from_hex(&text)?)
}

/// The HTTPS identity `wz serve` uses: `tls_cert` + `tls_key`, else (the
/// embedded SQLite default) a self-signed certificate kept beside the
/// database (`tls-cert.pem`, `tls-key.pem` 0600), made on first start.
/// `None` only with `tls = "off"`.
pub fn tls_identity(config: &PlatformConfig) -> anyhow::Result<Option<wz_platform::tls::TlsIdentity>> {
    use wz_platform::tls::TlsIdentity;
    let read = |f: &str| std::fs::read_to_string(f).with_context(|| format!("reading {f}"));
    match (config.tls, &config.tls_cert, &config.tls_key) {
        (wz_platform::TlsMode::Off, _, _) => {
            tracing::warn!("TLS is off (tls = \"off\"): serve only behind a TLS-terminating proxy");
            Ok(None)
        }
        (_, Some(cert), Some(key)) => Ok(Some(TlsIdentity::from_pem(&read(cert)?, &read(key)?)?)),
        (_, Some(_), None) | (_, None, Some(_)) => bail!("tls_cert and tls_key go together"),
        (_, None, None) => {
            let Some(dir) = sqlite_dir(&config.database_url) else {
                bail!("set tls_cert and tls_key (PEM) for HTTPS, or tls = \"off\" behind a TLS proxy")
            };
            let shangmi = config.tls_suites == wz_platform::TlsSuites::Shangmi;
            let (cert, key) = if shangmi {
                (dir.join("tls-sm2-cert.pem"), dir.join("tls-sm2-key.pem"))
            } else {
                (dir.join("tls-cert.pem"), dir.join("tls-key.pem"))
            };
            if cert.is_file() && key.is_file() {
                return Ok(Some(TlsIdentity::from_pem(
                    &std::fs::read_to_string(&cert)?,
                    &std::fs::read_to_string(&key)?,
                )?));
            }
            let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
            let id = if shangmi {
                TlsIdentity::self_signed_sm2(&hosts)?
            } else {
                TlsIdentity::self_signed(&hosts)?
            };
            write_secret(&key, id.key_pem().as_bytes())?;
            std::fs::write(&cert, id.cert_pem())?;
            tracing::info!(path = %cert.display(), "created a self-signed TLS certificate");
            Ok(Some(id))
        }
    }
}

/// Writes a new secret file readable by its owner only; never overwrites.
pub fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Logging to stderr; `RUST_LOG` filters, `json` switches to JSON lines.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// The token settings with the user PIN from `WZ_HSM_PIN` (or asked).
pub fn hsm_config(hsm: &wz_platform::HsmSettings) -> anyhow::Result<wz_hsm::HsmConfig> {
    let pin = match std::env::var("WZ_HSM_PIN") {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(_) => {
            eprint!("PKCS#11 token user PIN: ");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line)?;
            zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    };
    Ok(wz_hsm::HsmConfig {
        module: PathBuf::from(&hsm.module),
        token_label: hsm.token_label.clone(),
        key_label: hsm.key_label.clone(),
        pin,
    })
}

/// Loads the PEM public keys of the card authorities the config trusts.
pub fn card_authorities(config: &PlatformConfig) -> anyhow::Result<Vec<wz_crypto::Sm2PublicKey>> {
    config
        .card_authority_keys
        .iter()
        .map(|p| {
            let pem =
                std::fs::read_to_string(p).with_context(|| format!("reading card authority key {p}"))?;
            Ok(wz_crypto::Sm2PublicKey::from_public_key_pem(&pem)?)
        })
        .collect()
}

/// Opens store and platform as the config says.
/// Whether a command needs the face models (loading them takes a second).
#[derive(Debug, Clone)]
pub enum Faces {
    /// The real engine: serving, importing photos, enrolling.
    Load,
    /// The real engine, already loaded by the caller.
    Loaded(Box<wz_face::Engine>),
    /// Commands that never look at a face (RP and key administration).
    Skip,
}

pub async fn open_platform(config: &PlatformConfig, faces: Faces) -> anyhow::Result<wz_platform::Platform> {
    prepare_data_dir(config)?;
    let face: std::sync::Arc<dyn wz_platform::face::FaceEngine> = match faces {
        Faces::Load => std::sync::Arc::new(crate::face::RealFace::new(crate::face::engine(config)?)),
        Faces::Loaded(engine) => std::sync::Arc::new(crate::face::RealFace::new(*engine)),
        Faces::Skip => std::sync::Arc::new(wz_platform::face::NoFaceEngine),
    };
    let master = master_key(config)?;
    let store = wz_store::Store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let platform = wz_platform::Platform::open(
        store,
        config.clone(),
        master,
        face,
        card_authorities(config)?,
        now(),
    )
    .await?;
    Ok(platform)
}
