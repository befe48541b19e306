//! Writes valid inputs for the fuzz targets into `fuzz/regressions/`, so the
//! fuzzers start from inputs that reach signature checks (random bytes almost
//! never form a valid SM2 point). Keys are the fixed ones the targets use.
//!
//! `cargo run -p wz-proto --example fuzz_seeds`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wz_crypto::Sm2PrivateKey;
use wz_proto::{CredentialBody, CredentialId, Level, QrBody, RequestAuth, RequestTarget};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    let platform = Sm2PrivateKey::from_scalar_bytes(&[0x11; 32]).unwrap();
    let device = Sm2PrivateKey::from_scalar_bytes(&[0x22; 32]).unwrap();
    let body = QrBody {
        cred_id: CredentialId([1; 16]),
        issued_at: 1_795_000_000,
        counter: 7,
        nonce: [2; 8],
    };
    write(
        "qr_decode",
        "valid-qr",
        body.seal(&device, platform.public_key()).unwrap().as_bytes(),
    );

    let issuer = Sm2PrivateKey::from_scalar_bytes(&[0x33; 32]).unwrap();
    let cert = CredentialBody {
        cred_id: CredentialId([3; 16]),
        level: Level::Lightweight,
        device_public_key: device.public_key().clone(),
        not_before: 1_795_000_000,
        not_after: 1_800_000_000,
        issuer_key_id: issuer.key_id(),
    }
    .sign(&issuer)
    .unwrap();
    write("cert_decode", "valid-cert", &cert.encode());

    write("id_number", "standard-example", b"11010519491231002X");

    let authority = Sm2PrivateKey::from_scalar_bytes(&[0x55; 32]).unwrap();
    let card = wz_proto::CardData {
        id_number: wz_proto::IdNumber::parse("11010519491231002X").unwrap(),
        name: "测试".into(),
        sex: wz_proto::Sex::Female,
        ethnicity: "汉".into(),
        birth_date: wz_proto::CivilDate::new(1949, 12, 31).unwrap(),
        address: "测试地址".into(),
        valid_from: wz_proto::CivilDate::new(2020, 1, 1).unwrap(),
        valid_to: None,
        photo: vec![1, 2, 3],
    }
    .sign(&authority)
    .unwrap();
    write("card_decode", "valid-card", &card.encode().unwrap());

    let rp = Sm2PrivateKey::from_scalar_bytes(&[0x44; 32]).unwrap();
    let target = RequestTarget {
        method: "POST",
        path: "/v1/verify",
        body: b"{\"mode\":\"0x04\"}",
    };
    let auth = RequestAuth::sign(
        &rp,
        "hotel-001",
        &target,
        1_795_000_000,
        "00112233445566778899aabbccddeeff",
    )
    .unwrap();
    let mut input = Vec::new();
    for (_, v) in auth.to_headers() {
        input.extend_from_slice(v.as_bytes());
        input.push(0xff);
    }
    input.extend_from_slice(target.path.as_bytes());
    input.push(0xff);
    input.extend_from_slice(target.body);
    write("rp_request_verify", "valid-request", &input);
    println!("seeds written under {}", root.display());
}
