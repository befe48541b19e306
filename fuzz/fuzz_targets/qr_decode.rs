//! QR text from a scanner: parse, and where it parses, decrypt and verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wz_crypto::Sm2PrivateKey;
use wz_proto::QrEnvelope;

fn keys() -> &'static (Sm2PrivateKey, Sm2PrivateKey) {
    static K: OnceLock<(Sm2PrivateKey, Sm2PrivateKey)> = OnceLock::new();
    // Fixed scalars so that crashes reproduce.
    K.get_or_init(|| {
        (
            Sm2PrivateKey::from_scalar_bytes(&[0x11; 32]).unwrap(),
            Sm2PrivateKey::from_scalar_bytes(&[0x22; 32]).unwrap(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (platform, device) = keys();
    // Raw bytes as text, and bytes base45-wrapped so the decoder gets past the prefix.
    let texts = [
        String::from_utf8_lossy(data).into_owned(),
        format!("WZ1:{}", base45_lossy(data)),
    ];
    for text in texts {
        if let Ok(env) = QrEnvelope::parse(&text) {
            if let Ok(signed) = env.open(platform) {
                let _ = signed.verify(device.public_key());
                let _ = signed.body.check_freshness(signed.body.issued_at, 60);
            }
        }
    }
});

fn base45_lossy(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    data.iter().map(|b| ALPHABET[usize::from(*b) % 45] as char).collect()
}
