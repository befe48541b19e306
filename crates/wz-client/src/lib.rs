//! The platform's HTTP API as the wallet and the terminal SDK call it:
//! published keys (cached, refreshed when an unknown key id shows up),
//! unsigned JSON calls, and SM2-signed calls whose retries resend the very
//! same signed request so the platform answers them idempotently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wz_crypto::{KeyId, Sm2PublicKey};
use wz_proto::ResultCode;
use wz_proto::api::{KeyUsage, KeysResponse, Problem, PublishedKey};
use wz_proto::signed_http::{RequestAuth, RequestTarget, ResponseAuth, ResponseTarget};

mod trust;
pub use trust::{TlsSuites, Trust, install_tls_provider};

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

/// One platform, reached over HTTP.
#[derive(Debug)]
pub struct PlatformClient {
    base: String,
    http: reqwest::Client,
    retries: u32,
    keys: Mutex<Option<KeysResponse>>,
    /// Published keys already parsed (signing keys with their verification
    /// table: every verdict is checked against one), by their hex.
    parsed_keys: Mutex<std::collections::HashMap<String, Sm2PublicKey>>,
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

pub(crate) fn transport(e: &reqwest::Error) -> ClientError {
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
            parsed_keys: Mutex::new(std::collections::HashMap::new()),
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
        let (hex_key, usage) = {
            let k = self.keys.lock().ok()?;
            let key = k.as_ref()?.keys.iter().find(|k| pick(k))?;
            (key.public_key.clone(), key.usage)
        };
        if let Some(parsed) = self.parsed_keys.lock().ok()?.get(&hex_key) {
            return Some(parsed.clone());
        }
        let mut parsed = Sm2PublicKey::from_sec1_bytes(&hex::decode(&hex_key).ok()?).ok()?;
        if usage == KeyUsage::Signing {
            parsed = parsed.with_verify_table();
        }
        let mut all = self.parsed_keys.lock().ok()?;
        // The platform publishes a handful of keys; rotations add a few.
        if all.len() >= 64 {
            all.clear();
        }
        all.insert(hex_key, parsed.clone());
        Some(parsed)
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
        key: &(dyn wz_crypto::Sm2Signer + Sync),
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
