//! HTTPS for the platform: TLS 1.3 only (rustls, ring provider), from the
//! operator's PEM files or a self-signed certificate made on first start,
//! and the accept loop that serves the axum router over it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest as _;
use wz_proto::ResultCode;
use zeroize::Zeroizing;

use crate::{PlatformError, Result};

/// Path where the platform serves its certificate's SHA-256 fingerprint.
pub const FINGERPRINT_PATH: &str = "/.well-known/wz-tls-fingerprint";

fn bad(detail: &'static str) -> PlatformError {
    PlatformError::new(ResultCode::InternalError, detail)
}

/// A server certificate chain and its private key.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_pem: String,
    key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint_hex())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// From PEM text: a certificate chain (leaf first) and a PKCS#8, SEC1 or
    /// PKCS#1 private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<core::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("TLS certificate file is not PEM"))?;
        if chain.is_empty() {
            return Err(bad("TLS certificate file holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| bad("TLS key file is not a PEM private key"))?;
        Ok(Self {
            chain,
            key,
            cert_pem: cert_pem.to_owned(),
            key_pem: Zeroizing::new(key_pem.to_owned()),
        })
    }

    /// A fresh self-signed certificate (ECDSA P-256) for `hosts` (DNS names
    /// or IP addresses), valid for ten years: for the embedded default,
    /// where clients pin its fingerprint instead of trusting a CA.
    pub fn self_signed(hosts: &[String]) -> Result<Self> {
        let key = rcgen::KeyPair::generate().map_err(|_| bad("could not make a TLS key"))?;
        let mut params =
            rcgen::CertificateParams::new(hosts.to_vec()).map_err(|_| bad("TLS host names are not valid"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wangzheng platform (self-signed)");
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let cert = params
            .self_signed(&key)
            .map_err(|_| bad("could not sign the TLS certificate"))?;
        Self::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// A fresh self-signed SM2 certificate (SM2-with-SM3) for `hosts`, for
    /// a server offering only the RFC 8998 ShangMi suite.
    pub fn self_signed_sm2(hosts: &[String]) -> Result<Self> {
        let key = wz_crypto::Sm2PrivateKey::generate()?;
        let der = wz_tls::self_signed_sm2_der(&key, "wangzheng platform (self-signed, SM2)", hosts)
            .map_err(|_| bad("could not sign the SM2 TLS certificate"))?;
        Self::from_pem(&wz_tls::cert_pem(&der), &key.to_pkcs8_pem()?)
    }

    /// The certificate chain as PEM (to store or hand to clients).
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key as PEM (to store with mode 0600).
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// SHA-256 of the leaf certificate (DER), the value clients pin.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 32] {
        self.chain
            .first()
            .map(|c| sha2::Sha256::digest(c.as_ref()).into())
            .unwrap_or_default()
    }

    /// The fingerprint as lower-case hex.
    #[must_use]
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint())
    }

    /// A TLS 1.3-only server configuration offering `suites`: ring's
    /// standard suites, or only the ShangMi suite (then the certificate and
    /// key must be SM2).
    pub fn server_config(&self, suites: crate::TlsSuites) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(match suites {
            crate::TlsSuites::Standard => rustls::crypto::ring::default_provider(),
            crate::TlsSuites::Shangmi => wz_tls::shangmi_provider(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|_| bad("TLS 1.3 is not available"))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|_| bad("TLS certificate and key do not match"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Adds `GET /.well-known/wz-tls-fingerprint` (the hex SHA-256 of the
/// certificate being served), so an operator can confirm the pin a client
/// was given over a channel they already trust.
pub fn with_fingerprint(app: axum::Router, identity: &TlsIdentity) -> axum::Router {
    let fp = identity.fingerprint_hex();
    app.route(
        FINGERPRINT_PATH,
        axum::routing::get(move || {
            let fp = fp.clone();
            async move { fp }
        }),
    )
}

/// Serves `app` on `listener` over TLS until `shutdown` completes, then
/// lets requests in flight finish. Handshake failures drop only that
/// connection (logged at debug, with the peer address and nothing else).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await;
            let Ok(Ok(tls)) = handshake else {
                tracing::debug!(%peer, "TLS handshake failed or timed out");
                return;
            };
            // Handlers see the peer as axum's `ConnectInfo`, as under `axum::serve`.
            let app = tower::ServiceExt::map_request(app, move |mut req: axum::http::Request<_>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    // Wait for in-flight connections, but not forever.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}
