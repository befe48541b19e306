//! Full TLS 1.3 handshakes in memory (no sockets), ShangMi against ring's
//! standard suites in the same run:
//! - `shangmi`: TLS_SM4_GCM_SM3, curveSM2, sm2sig_sm3, SM2 certificate;
//! - `standard`: ring's default (X25519, AES-GCM, ECDSA P-256 certificate).
//!
//! Each iteration is one client and one server completing a handshake and
//! exchanging 1 KiB each way.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

fn configs(
    provider: rustls::crypto::CryptoProvider,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    let provider = Arc::new(provider);
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(client), Arc::new(server))
}

fn transfer(from: &mut rustls::Connection, to: &mut rustls::Connection) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut slice = buf.as_slice();
    while !slice.is_empty() {
        to.read_tls(&mut slice).unwrap();
        to.process_new_packets().unwrap();
    }
}

fn handshake(client: &Arc<rustls::ClientConfig>, server: &Arc<rustls::ServerConfig>) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = rustls::Connection::from(rustls::ClientConnection::new(Arc::clone(client), name).unwrap());
    let mut s = rustls::Connection::from(rustls::ServerConnection::new(Arc::clone(server)).unwrap());
    while c.is_handshaking() || s.is_handshaking() {
        transfer(&mut c, &mut s);
        transfer(&mut s, &mut c);
    }
    let data = [7u8; 1024];
    c.writer().write_all(&data).unwrap();
    transfer(&mut c, &mut s);
    let mut got = [0u8; 1024];
    s.reader().read_exact(&mut got).unwrap();
    s.writer().write_all(&got).unwrap();
    transfer(&mut s, &mut c);
    c.reader().read_exact(&mut got).unwrap();
    assert_eq!(got, data);
}

fn bench(cr: &mut Criterion) {
    let sm2 = wz_crypto::Sm2PrivateKey::generate().unwrap();
    let sm2_cert = wz_tls::self_signed_sm2_der(&sm2, "bench", &["localhost".to_owned()]).unwrap();
    let (sm_client, sm_server) = configs(
        wz_tls::shangmi_provider(),
        CertificateDer::from(sm2_cert),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(sm2.to_pkcs8_der().unwrap().to_vec())),
    );
    let ecdsa = rcgen::KeyPair::generate().unwrap();
    let ecdsa_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&ecdsa)
        .unwrap();
    let (std_client, std_server) = configs(
        rustls::crypto::ring::default_provider(),
        ecdsa_cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ecdsa.serialize_der())),
    );
    let mut g = cr.benchmark_group("tls13_handshake");
    g.bench_function("shangmi", |b| b.iter(|| handshake(&sm_client, &sm_server)));
    g.bench_function("standard", |b| b.iter(|| handshake(&std_client, &std_server)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
