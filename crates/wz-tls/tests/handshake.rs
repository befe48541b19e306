//! Real TLS 1.3 handshakes over loopback TCP with the ShangMi provider on
//! both sides: the certificate chain (SM2-with-SM3) and the handshake
//! signature (sm2sig_sm3) verify, curveSM2 agrees on a key, records are
//! sealed with SM4-GCM; a client that offers only the ShangMi suite is
//! refused by a server without it; a tampered certificate is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wz_crypto::Sm2PrivateKey;

fn sm2_identity() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = Sm2PrivateKey::generate().unwrap();
    let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let der = wz_tls::self_signed_sm2_der(&key, "wz test", &hosts).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap().to_vec();
    (
        CertificateDer::from(der),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
    )
}

fn shangmi_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(wz_tls::shangmi_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

fn shangmi_client(root: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(wz_tls::shangmi_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Serves one connection: reads a line, answers it reversed. Returns the
/// client's outcome and the suite the server negotiated.
async fn exchange(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
) -> (std::io::Result<Vec<u8>>, Option<u16>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(server).accept(tcp).await.ok()?;
        let suite = tls
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .map(|s| u16::from(s.suite()));
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).await.ok()?;
        buf.reverse();
        tls.write_all(&buf).await.ok()?;
        tls.shutdown().await.ok()?;
        suite
    });
    let client_result = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await?;
        tls.write_all(b"hello").await?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await?;
        Ok(out)
    }
    .await;
    let suite = server_task.await.unwrap();
    (client_result, suite)
}

#[tokio::test]
async fn shangmi_client_and_server_complete_a_handshake() {
    let (cert, key) = sm2_identity();
    let (out, suite) = exchange(shangmi_server(cert.clone(), key), shangmi_client(&cert)).await;
    assert_eq!(out.unwrap(), b"olleh");
    assert_eq!(suite, Some(wz_tls::TLS_SM4_GCM_SM3));
}

#[tokio::test]
async fn shangmi_only_client_is_refused_by_a_standard_server() {
    let (sm2_cert, _) = sm2_identity();
    // A standard server: ECDSA certificate, ring's suites only.
    let ecdsa = ecdsa_identity();
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ecdsa.0], ecdsa.1)
            .unwrap(),
    );
    let (out, suite) = exchange(server, shangmi_client(&sm2_cert)).await;
    assert!(out.is_err(), "handshake without a common suite succeeded");
    assert_eq!(suite, None);
}

#[tokio::test]
async fn a_certificate_from_another_key_is_refused() {
    let (cert, key) = sm2_identity();
    let (other_cert, _) = sm2_identity();
    let (out, _) = exchange(shangmi_server(cert, key), shangmi_client(&other_cert)).await;
    assert!(out.is_err(), "client trusted a certificate it was not given");
}

#[test]
fn certificate_signature_verifies_and_tampering_breaks_it() {
    let (cert, _) = sm2_identity();
    let provider = wz_tls::shangmi_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
            .build()
            .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let now = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000));
    assert!(verifier.verify_server_cert(&cert, &[], &name, &[], now).is_ok());
    let wrong_name = ServerName::try_from("example.org").unwrap();
    assert!(
        verifier
            .verify_server_cert(&cert, &[], &wrong_name, &[], now)
            .is_err()
    );
}

/// A P-256 identity for the standard server (rcgen, ring).
fn ecdsa_identity() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}
