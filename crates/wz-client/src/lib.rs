//! The platform's HTTP API as the wallet and the terminal SDK call it:
//! published keys (cached, refreshed when an unknown key id shows up),
//! unsigned JSON calls, and SM2-signed calls whose retries resend the very
//! same signed request so the platform answers them idempotently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wz_crypto::{KeyId, Sm2PrivateKey, Sm2PublicKey};
use wz_proto::ResultCode;
use wz_proto::api::{KeyUsage, KeysResponse, Problem, PublishedKey};
use wz_proto::signed_http::{RequestAuth, RequestTarget, ResponseAuth, ResponseTarget};

/// What can go wrong talking to the platform. Never carries personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The platform could not be reached or did not answer in time.
    #[error("platform unreachable: {0}")]
    Transport(String),
    /// The platform refused the request with a problem document.
    #[error("platform refused: {} ({})", .0.code.name(), .0.detail.as_deref().unwrap_or(.0.title.as_str()))]
    Refused(Problem),
    /// The reply was malformed or its signature did not check out.
    #[error("platform reply rejected: {0}")]
    BadReply(&'static str),
    /// The TLS trust settings are unusable.
    #[error("TLS trust: {0}")]
    BadTrust(&'static str),
    /// A local protocol or crypto step failed.
    #[error(transparent)]
    Proto(#[from] wz_proto::ProtoError),
    #[error(transparent)]
    Crypto(#[from] wz_crypto::CryptoError),
}

impl ClientError {
    /// The platform's result code, if it gave one.
    #[must_use]
    pub fn code(&self) -> Option<ResultCode> {
        match self {
            Self::Refused(p) => Some(p.code),
            Self::Proto(e) => Some(e.code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = core::result::Result<T, E>;

/// A signed reply whose signature (when the platform signs that route) was checked.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The request nonce the reply is bound to.
    pub nonce: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|_| ClientError::BadReply("body is not the expected JSON"))
    }
}

/// Which TLS 1.3 suites a client offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsSuites {
    /// ring's standard suites.
    #[default]
    Standard,
    /// Only RFC 8998 `TLS_SM4_GCM_SM3` with `curveSM2` and `sm2sig_sm3`.
    ShangMi,
}

/// How a client decides it is talking to the real platform over HTTPS.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// The server certificate's SHA-256 (DER) must be exactly this (the
    /// embedded default's self-signed certificate, pinned at `wallet init`).
    PinnedSha256([u8; 32]),
    /// Certificates chaining to these CA certificates (PEM), for the host name.
    CaPem(Vec<u8>),
    /// The operating system's trust store.
    System,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PinnedSha256(p) => write!(f, "PinnedSha256({})", hex::encode(p)),
            Self::CaPem(_) => f.write_str("CaPem(..)"),
            Self::System => f.write_str("System"),
        }
    }
}

impl Trust {
    /// A pin from 64 hex digits (colons and spaces allowed, as tools print them).
    pub fn pin_from_hex(text: &str) -> Result<Self> {
        let clean: String = text.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        let bytes = hex::decode(clean).map_err(|_| ClientError::BadTrust("fingerprint is not hex"))?;
        Ok(Self::PinnedSha256(bytes.try_into().map_err(|_| {
            ClientError::BadTrust("fingerprint is not 32 bytes")
        })?))
    }

    /// An HTTP client for `base_url` that trusts the server as this says
    /// (TLS 1.3 only); a plain `http://` URL gets no TLS at all.
    pub fn http_client(&self, base_url: &str, timeout: Duration) -> Result<reqwest::Client> {
        self.http_client_with(base_url, timeout, TlsSuites::Standard)
    }

    /// [`Trust::http_client`], offering `suites`.
    pub fn http_client_with(
        &self,
        base_url: &str,
        timeout: Duration,
        suites: TlsSuites,
    ) -> Result<reqwest::Client> {
        install_tls_provider();
        let builder = reqwest::Client::builder().timeout(timeout);
        let builder = if base_url.starts_with("https://") {
            if *self == Self::System && suites == TlsSuites::Standard {
                // reqwest's platform verifier with the process-wide provider.
                builder
            } else {
                builder.tls_backend_preconfigured(self.tls_config(suites)?)
            }
        } else if base_url.starts_with("http://") {
            builder
        } else {
            return Err(ClientError::BadTrust(
                "platform URL must start with https:// or http://",
            ));
        };
        builder.build().map_err(|e| transport(&e))
    }

    fn tls_config(&self, suites: TlsSuites) -> Result<rustls::ClientConfig> {
        let provider = std::sync::Arc::new(match suites {
            TlsSuites::Standard => rustls::crypto::ring::default_provider(),
            TlsSuites::ShangMi => wz_tls::shangmi_provider(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|_| ClientError::BadTrust("TLS 1.3 unavailable"))?;
        let config = match self {
            Self::PinnedSha256(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(pin::PinnedVerifier::new(
                    *pin, provider,
                )))
                .with_no_client_auth(),
            Self::CaPem(pem) => {
                use rustls::pki_types::pem::PemObject as _;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|_| ClientError::BadTrust("CA file is not PEM"))?;
                    roots
                        .add(cert)
                        .map_err(|_| ClientError::BadTrust("CA certificate rejected"))?;
                }
                if roots.is_empty() {
                    return Err(ClientError::BadTrust("CA file holds no certificate"));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Self::System => {
                return Err(ClientError::BadTrust(
                    "ShangMi TLS needs a pinned fingerprint or a CA file (no system store holds SM2 roots)",
                ));
            }
        };
        Ok(config)
    }
}

/// Makes ring the process-wide rustls provider (reqwest needs one even for
/// plain-HTTP clients). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

mod pin {
    //! A verifier that accepts exactly one certificate, by its SHA-256.
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};
    use sha2::Digest as _;

    #[derive(Debug)]
    pub(super) struct PinnedVerifier {
        pin: [u8; 32],
        provider: Arc<CryptoProvider>,
    }

    impl PinnedVerifier {
        pub(super) fn new(pin: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
            Self { pin, provider }
        }
    }

    impl ServerCertVerifier for PinnedVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            // The pin is the identity: name and validity come with it.
            let seen: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
            if subtle_eq(&seen, &self.pin) {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
        }

        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            Err(Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            // The server must still prove it holds the pinned certificate's key.
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }

    fn subtle_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// One platform, reached over HTTP.
#[derive(Debug)]
pub struct PlatformClient {
    base: String,
    http: reqwest::Client,
    retries: u32,
    keys: Mutex<Option<KeysResponse>>,
    /// Platform clock minus ours, seconds: applied to signed timestamps.
    clock_offset: AtomicI64,
}

/// Seconds since the epoch (the client's one clock read).
#[must_use]
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn transport(e: &reqwest::Error) -> ClientError {
    // reqwest's message can carry the URL; ours never holds personal data.
    ClientError::Transport(if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    })
}

impl PlatformClient {
    /// `base_url` like `https://127.0.0.1:8680`, whose server `trust`
    /// vouches for (a plain `http://` URL only where the platform was
    /// explicitly started without TLS); each try times out after `timeout`;
    /// transport failures are retried `retries` times.
    pub fn new(base_url: &str, trust: &Trust, timeout: Duration, retries: u32) -> Result<Self> {
        Self::with_suites(base_url, trust, TlsSuites::Standard, timeout, retries)
    }

    /// [`PlatformClient::new`], offering the TLS `suites` given.
    pub fn with_suites(
        base_url: &str,
        trust: &Trust,
        suites: TlsSuites,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self> {
        let http = trust.http_client_with(base_url, timeout, suites)?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            retries,
            keys: Mutex::new(None),
            clock_offset: AtomicI64::new(0),
        })
    }

    /// Platform time now, as far as this client knows (local clock + learnt offset).
    #[must_use]
    pub fn platform_now(&self) -> u64 {
        unix_now().saturating_add_signed(self.clock_offset.load(Ordering::Relaxed))
    }

    /// Learns the platform's clock from a `server_time` it sent.
    pub fn learn_server_time(&self, server_time: u64) -> i64 {
        let offset = i64::try_from(server_time).unwrap_or(i64::MAX) - i64::try_from(unix_now()).unwrap_or(0);
        self.clock_offset.store(offset, Ordering::Relaxed);
        offset
    }

    /// Sets a known clock offset (platform minus local, seconds).
    pub fn set_clock_offset(&self, offset: i64) {
        self.clock_offset.store(offset, Ordering::Relaxed);
    }

    /// The base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
        let mut tries = 0;
        loop {
            match build().send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    let body = r.bytes().await.map_err(|e| transport(&e))?.to_vec();
                    return Ok((status, headers, body));
                }
                Err(e) if tries < self.retries && (e.is_timeout() || e.is_connect() || e.is_request()) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                }
                Err(e) => return Err(transport(&e)),
            }
        }
    }

    fn refused(status: u16, body: &[u8]) -> ClientError {
        serde_json::from_slice::<Problem>(body).map_or_else(
            |_| {
                ClientError::Refused(Problem::new(
                    if status >= 500 {
                        ResultCode::InternalError
                    } else {
                        ResultCode::RequestMalformed
                    },
                    Some("platform answered without a problem document"),
                ))
            },
            ClientError::Refused,
        )
    }

    /// `GET path`, JSON answer.
    pub async fn get_json<R: DeserializeOwned>(&self, path: &str) -> Result<R> {
        let url = format!("{}{path}", self.base);
        let (status, _, body) = self.send(|| self.http.get(&url)).await?;
        if status != 200 {
            return Err(Self::refused(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| ClientError::BadReply("body is not the expected JSON"))
    }

    /// `POST path` with a JSON body (unsigned calls: challenges, lightweight enrolment).
    pub async fn post_json<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R> {
        let url = format!("{}{path}", self.base);
        let bytes = serde_json::to_vec(body).map_err(|_| ClientError::BadReply("request encoding"))?;
        let (status, _, body) = self
            .send(|| {
                self.http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bytes.clone())
            })
            .await?;
        if status != 200 && status != 201 {
            return Err(Self::refused(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| ClientError::BadReply("body is not the expected JSON"))
    }

    /// The published keys, fetched fresh (and cached).
    pub async fn refresh_keys(&self) -> Result<KeysResponse> {
        let keys: KeysResponse = self.get_json(wz_proto::routes::KEYS).await?;
        self.learn_server_time(keys.server_time);
        if let Ok(mut k) = self.keys.lock() {
            *k = Some(keys.clone());
        }
        Ok(keys)
    }

    fn cached(&self, pick: impl Fn(&PublishedKey) -> bool) -> Option<Sm2PublicKey> {
        let k = self.keys.lock().ok()?;
        let key = k.as_ref()?.keys.iter().find(|k| pick(k))?;
        Sm2PublicKey::from_sec1_bytes(&hex::decode(&key.public_key).ok()?).ok()
    }

    async fn key_where(&self, pick: impl Fn(&PublishedKey) -> bool) -> Result<Sm2PublicKey> {
        if let Some(k) = self.cached(&pick) {
            return Ok(k);
        }
        self.refresh_keys().await?;
        self.cached(&pick)
            .ok_or(ClientError::BadReply("platform publishes no such key"))
    }

    /// The platform's current key for `usage`.
    pub async fn current_key(&self, usage: KeyUsage) -> Result<Sm2PublicKey> {
        self.key_where(|k| k.usage == usage && k.current).await
    }

    /// The platform signing key with this id (refetched once if unknown: rotation).
    pub async fn signing_key(&self, id: &KeyId) -> Result<Sm2PublicKey> {
        let id = id.to_string();
        self.key_where(|k| k.usage == KeyUsage::Signing && k.key_id == id)
            .await
    }

    /// `POST path` signed as `signer_id` with `key`. Retries resend the same
    /// signed bytes (same nonce), which the platform answers idempotently.
    /// A reply carrying a platform signature is checked; with
    /// `require_signed` an unsigned 200 is refused.
    pub async fn signed_post(
        &self,
        path: &str,
        signer_id: &str,
        key: &Sm2PrivateKey,
        body: &[u8],
        require_signed: bool,
    ) -> Result<Reply> {
        let nonce = wz_proto::signed_http::new_nonce()?;
        let target = RequestTarget {
            method: "POST",
            path,
            body,
        };
        let auth = RequestAuth::sign(key, signer_id, &target, self.platform_now(), &nonce)?;
        let headers = auth.to_headers();
        let url = format!("{}{path}", self.base);
        let (status, reply_headers, reply) = self
            .send(|| {
                let mut r = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_vec());
                for (k, v) in &headers {
                    r = r.header(*k, v);
                }
                r
            })
            .await?;
        if status != 200 {
            return Err(Self::refused(status, &reply));
        }
        let auth = ResponseAuth::from_headers(|n| reply_headers.get(n).and_then(|v| v.to_str().ok()));
        match auth {
            Ok(auth) => {
                let platform = self.signing_key(&auth.key_id).await?;
                auth.verify(
                    &platform,
                    &ResponseTarget {
                        status,
                        rp_id: signer_id,
                        request_nonce: &nonce,
                        body: &reply,
                    },
                )
                .map_err(|_| ClientError::BadReply("platform signature does not verify"))?;
            }
            Err(_) if require_signed => {
                return Err(ClientError::BadReply("reply is not signed by the platform"));
            }
            Err(_) => {}
        }
        Ok(Reply {
            status,
            body: reply,
            nonce,
        })
    }
}
