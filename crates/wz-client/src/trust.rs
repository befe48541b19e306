//! How a client trusts the platform's HTTPS certificate: a pinned
//! SHA-256, a CA file, or the system roots; and which TLS 1.3 suites it
//! offers.

use std::time::Duration;

use crate::{ClientError, Result, transport};

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

pub(crate) mod pin {
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
