//! A relying party's signed request: headers and body from the network.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wz_crypto::Sm2PrivateKey;
use wz_proto::{RequestAuth, RequestTarget};

fn rp() -> &'static Sm2PrivateKey {
    static K: OnceLock<Sm2PrivateKey> = OnceLock::new();
    K.get_or_init(|| Sm2PrivateKey::from_scalar_bytes(&[0x44; 32]).unwrap())
}

fuzz_target!(|data: &[u8]| {
    // Split the input into five header values, a path and a body at 0xff bytes.
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let names = ["x-wz-rp-id", "x-wz-key-id", "x-wz-timestamp", "x-wz-nonce", "x-wz-signature"];
    let values: Vec<(&str, String)> = names.iter().map(|n| (*n, next())).collect();
    let path = next();
    let body = next();
    let get = |n: &str| values.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
    if let Ok(auth) = RequestAuth::from_headers(get) {
        let target = RequestTarget { method: "POST", path: &path, body: body.as_bytes() };
        let _ = auth.verify_signature(rp().public_key(), &target);
        let _ = auth.check_timestamp(auth.timestamp, 300);
    }
    // The verdict parser sees the same kind of hostile headers on the RP side.
    let _ = wz_proto::ResponseAuth::from_headers(get);
});

