//! Credential certificates from a wallet: decode, verify, check validity.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wz_crypto::Sm2PrivateKey;
use wz_proto::CredentialCert;

fn issuer() -> &'static Sm2PrivateKey {
    static K: OnceLock<Sm2PrivateKey> = OnceLock::new();
    K.get_or_init(|| Sm2PrivateKey::from_scalar_bytes(&[0x33; 32]).unwrap())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = CredentialCert::decode(data) {
        assert_eq!(cert.encode(), data, "decode/encode must be canonical");
        let _ = cert.verify(issuer().public_key());
        let _ = cert.check_validity(cert.body.not_before);
    }
});
