//! Golden vectors: byte-exact examples of every format wangzheng defines
//! (QR payload, credential certificate, signed RP request, signed verdict,
//! PIN block, card file), in `tests/vectors/*.json`, so that another
//! implementation — a phone app, an RP in another language — can prove it
//! reads and writes the same bytes, and a refactor cannot silently change
//! a format.
//!
//! Each vector holds the keys (SM2 private scalars, hex), the fields, every
//! deterministic intermediate (the exact bytes that are signed or
//! encrypted) and one signed/encrypted result. SM2 signatures and
//! ciphertexts are randomised, so the result is checked by opening and
//! verifying it with the vector's keys and by re-encoding what was decoded;
//! the intermediates are checked byte for byte. `WZ_UPDATE_VECTORS=1`
//! rewrites the files (only for a deliberate format change: review the diff).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use serde_json::{Value, json};
use wz_crypto::{KeyId, Keyring, Sm2PrivateKey, Sm2PublicKey};
use wz_proto::api::VerifyVerdict;
use wz_proto::{
    CardData, CivilDate, CredentialBody, CredentialCert, CredentialId, CredentialPin, IdNumber, Level,
    QrBody, QrEnvelope, RequestAuth, RequestTarget, ResponseAuth, ResponseTarget, SignedCard,
};

/// A fixed SM2 key from a label (SM3 of the label as the scalar).
fn key(label: &str) -> Sm2PrivateKey {
    Sm2PrivateKey::from_scalar_bytes(&wz_crypto::sm3(label.as_bytes())).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn private(v: &Value) -> Sm2PrivateKey {
    Sm2PrivateKey::from_scalar_bytes(&h(v)).unwrap()
}

fn scalar(k: &Sm2PrivateKey) -> String {
    hex::encode(k.to_scalar_bytes().as_slice())
}

/// Reads `name.json`, or writes `fresh()` there when asked to update.
fn vector(name: &str, fresh: impl FnOnce() -> Value) -> Value {
    let path = format!("{}/tests/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("WZ_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&fresh()).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("vector file missing: run with WZ_UPDATE_VECTORS=1");
    serde_json::from_str(&text).unwrap()
}

fn qr_body(v: &Value) -> QrBody {
    QrBody {
        cred_id: CredentialId(h(&v["cred_id"]).try_into().unwrap()),
        issued_at: v["issued_at"].as_u64().unwrap(),
        counter: u32::try_from(v["counter"].as_u64().unwrap()).unwrap(),
        nonce: h(&v["nonce"]).try_into().unwrap(),
    }
}

#[test]
fn qr_payload() {
    let v = vector("qr", || {
        let (device, platform) = (key("wz vector device"), key("wz vector platform encryption"));
        let body = QrBody {
            cred_id: CredentialId(*b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"),
            issued_at: 1_764_000_000,
            counter: 7,
            nonce: *b"\x01\x02\x03\x04\x05\x06\x07\x08",
        };
        let text = body.seal(&device, platform.public_key()).unwrap();
        let opened = QrEnvelope::parse(&text)
            .unwrap()
            .open(&Keyring::new(platform.clone()))
            .unwrap();
        json!({
            "format": "QR text = \"WZ1:\" + base45(0x01 | key_hint(2) | SM2Enc(platform, cred_id | issued_at BE8 | counter BE4 | nonce(8) | SM2Sign(device, \"wz-qr-v1\" | cred_id | issued_at | counter | nonce)))",
            "device_private": scalar(&device),
            "device_public": hex::encode(device.public_key().to_sec1_bytes()),
            "platform_encryption_private": scalar(&platform),
            "platform_key_id": platform.key_id().to_string(),
            "body": {
                "cred_id": hex::encode(body.cred_id.0),
                "issued_at": body.issued_at,
                "counter": body.counter,
                "nonce": hex::encode(body.nonce),
            },
            "signing_input": hex::encode(body.signing_input()),
            "signature": hex::encode(opened.signature.to_bytes()),
            "key_hint": hex::encode(&platform.key_id().as_bytes()[..2]),
            "qr_text": text,
        })
    });
    let body = qr_body(&v["body"]);
    assert_eq!(hex::encode(body.signing_input()), v["signing_input"]);
    let platform = private(&v["platform_encryption_private"]);
    assert_eq!(platform.key_id().to_string(), v["platform_key_id"]);
    let device = Sm2PublicKey::from_sec1_bytes(&h(&v["device_public"])).unwrap();
    assert_eq!(device, *private(&v["device_private"]).public_key());
    let text = v["qr_text"].as_str().unwrap();
    assert!(text.starts_with("WZ1:") && text.len() == 304);
    let envelope = QrEnvelope::parse(text).unwrap();
    let opened = envelope.open(&Keyring::new(platform)).unwrap();
    assert_eq!(opened.body, body);
    assert_eq!(hex::encode(opened.signature.to_bytes()), v["signature"]);
    assert_eq!(opened.verify(&device).unwrap(), body);
    // A fresh seal of the same body opens to the same fields (the text
    // differs: SM2 encryption is randomised).
    let again = body
        .seal(
            &key("wz vector device"),
            private(&v["platform_encryption_private"]).public_key(),
        )
        .unwrap();
    assert_ne!(again, text);
    let base45 = &text[4..];
    assert!(
        base45
            .bytes()
            .all(|b| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&b))
    );
    assert_eq!(
        hex::encode(&base45_prefix(base45)[1..3]),
        v["key_hint"],
        "envelope starts 0x01 | key hint"
    );
}

/// The first bytes of a base45 text (RFC 9285: 3 characters → 2 bytes).
fn base45_prefix(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let val = |c: u8| ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
    let b = text.as_bytes();
    let mut out = Vec::new();
    for chunk in b[..6].chunks(3) {
        let n = val(chunk[0]) + val(chunk[1]) * 45 + val(chunk[2]) * 45 * 45;
        out.push((n >> 8) as u8);
        out.push((n & 0xff) as u8);
    }
    out
}

#[test]
fn credential_certificate() {
    let v = vector("credential", || {
        let (issuer, device) = (key("wz vector platform signing"), key("wz vector device"));
        let body = CredentialBody {
            cred_id: CredentialId(*b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"),
            level: Level::Upgraded,
            device_public_key: device.public_key().clone(),
            not_before: 1_764_000_000,
            not_after: 1_827_072_000,
            issuer_key_id: issuer.key_id(),
        };
        let tbs = body.tbs_bytes();
        let cert = body.sign(&issuer).unwrap();
        json!({
            "format": "cert = tbs | SM2Sign(issuer, \"wz-cred-v1\" | tbs); tbs = \"WZC\" | 0x01 | cred_id(16) | level(1: 1 lightweight, 2 upgraded) | device_pub(65) | not_before BE8 | not_after BE8 | issuer_key_id(8)",
            "issuer_private": scalar(&issuer),
            "device_private": scalar(&device),
            "body": {
                "cred_id": hex::encode(cert.body.cred_id.0),
                "level": "upgraded",
                "not_before": cert.body.not_before,
                "not_after": cert.body.not_after,
                "issuer_key_id": cert.body.issuer_key_id.to_string(),
            },
            "tbs": hex::encode(tbs),
            "certificate": hex::encode(cert.encode()),
        })
    });
    let issuer = private(&v["issuer_private"]);
    let device = private(&v["device_private"]);
    let b = &v["body"];
    let body = CredentialBody {
        cred_id: CredentialId(h(&b["cred_id"]).try_into().unwrap()),
        level: serde_json::from_value(b["level"].clone()).unwrap(),
        device_public_key: device.public_key().clone(),
        not_before: b["not_before"].as_u64().unwrap(),
        not_after: b["not_after"].as_u64().unwrap(),
        issuer_key_id: b["issuer_key_id"].as_str().unwrap().parse::<KeyId>().unwrap(),
    };
    assert_eq!(body.issuer_key_id, issuer.key_id());
    assert_eq!(hex::encode(body.tbs_bytes()), v["tbs"]);
    let bytes = h(&v["certificate"]);
    assert_eq!(bytes.len(), wz_proto::credential::CERT_LEN);
    let cert = CredentialCert::decode(&bytes).unwrap();
    assert_eq!(cert.body, body);
    cert.verify(issuer.public_key()).unwrap();
    assert_eq!(cert.encode(), bytes, "one certificate, one encoding");
}

#[test]
fn signed_rp_request() {
    let v = vector("rp_request", || {
        let rp = key("wz vector relying party");
        let body = br#"{"mode":"0x04","qr":"WZ1:..."}"#;
        let target = RequestTarget {
            method: "POST",
            path: "/v1/verify",
            body,
        };
        let (ts, nonce) = (1_764_000_000, "00112233445566778899aabbccddeeff");
        let text = RequestAuth::signing_text(&target, "hotel-001", &rp.key_id(), ts, nonce).unwrap();
        let auth = RequestAuth::sign(&rp, "hotel-001", &target, ts, nonce).unwrap();
        let headers: serde_json::Map<String, Value> = auth
            .to_headers()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        json!({
            "format": "signature = SM2Sign(rp_key, canonical text); headers carry rp id, key id, timestamp, nonce, signature",
            "rp_private": scalar(&rp),
            "method": "POST",
            "path": "/v1/verify",
            "body": String::from_utf8(body.to_vec()).unwrap(),
            "rp_id": "hotel-001",
            "timestamp": ts,
            "nonce": nonce,
            "signing_text": hex::encode(text),
            "headers": headers,
        })
    });
    let rp = private(&v["rp_private"]);
    let body = v["body"].as_str().unwrap().as_bytes();
    let target = RequestTarget {
        method: v["method"].as_str().unwrap(),
        path: v["path"].as_str().unwrap(),
        body,
    };
    let (rp_id, ts, nonce) = (
        v["rp_id"].as_str().unwrap(),
        v["timestamp"].as_u64().unwrap(),
        v["nonce"].as_str().unwrap(),
    );
    let text = RequestAuth::signing_text(&target, rp_id, &rp.key_id(), ts, nonce).unwrap();
    assert_eq!(hex::encode(&text), v["signing_text"]);
    let headers = &v["headers"];
    let auth = RequestAuth::from_headers(|n| headers[n].as_str()).unwrap();
    assert_eq!(
        (auth.rp_id.as_str(), auth.timestamp, auth.nonce.as_str()),
        (rp_id, ts, nonce)
    );
    auth.verify_signature(rp.public_key(), &target).unwrap();
    // Any other body fails.
    let other = RequestTarget {
        body: b"{}",
        ..target
    };
    assert!(auth.verify_signature(rp.public_key(), &other).is_err());
}

#[test]
fn signed_verdict() {
    let v = vector("verdict", || {
        let platform = key("wz vector platform signing");
        let verdict = VerifyVerdict {
            serial: "53390606e585fc516db0d06d98491334".into(),
            result: wz_proto::ResultCode::Pass,
            result_code: 0,
            mode: wz_proto::AuthMode::from_bits(0x04).unwrap(),
            level: Some(Level::Lightweight),
            time: 1_764_000_001,
            pseudonym: Some("dceee2a2f953de32".into()),
            released: vec![],
            attributes: None,
        };
        let body = serde_json::to_vec(&verdict).unwrap();
        let target = ResponseTarget {
            status: 200,
            rp_id: "hotel-001",
            request_nonce: "00112233445566778899aabbccddeeff",
            body: &body,
        };
        let ts = 1_764_000_001;
        let text = ResponseAuth::signing_text(&target, &platform.key_id(), ts).unwrap();
        let auth = ResponseAuth::sign(&platform, &target, ts).unwrap();
        let headers: serde_json::Map<String, Value> = auth
            .to_headers()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        json!({
            "format": "verdict body is JSON; the headers carry SM2Sign(platform signing key, canonical text over status, timestamp, request nonce, SM3(body), rp id, key id)",
            "platform_signing_private": scalar(&platform),
            "status": 200,
            "rp_id": "hotel-001",
            "request_nonce": "00112233445566778899aabbccddeeff",
            "body": String::from_utf8(body).unwrap(),
            "signing_text": hex::encode(text),
            "headers": headers,
        })
    });
    let platform = private(&v["platform_signing_private"]);
    let body = v["body"].as_str().unwrap().as_bytes();
    let verdict: VerifyVerdict = serde_json::from_slice(body).unwrap();
    assert_eq!(
        serde_json::to_vec(&verdict).unwrap(),
        body,
        "the verdict JSON is stable"
    );
    let target = ResponseTarget {
        status: u16::try_from(v["status"].as_u64().unwrap()).unwrap(),
        rp_id: v["rp_id"].as_str().unwrap(),
        request_nonce: v["request_nonce"].as_str().unwrap(),
        body,
    };
    let headers = &v["headers"];
    let auth = ResponseAuth::from_headers(|n| headers[n].as_str()).unwrap();
    assert_eq!(
        hex::encode(ResponseAuth::signing_text(&target, &auth.key_id, auth.timestamp).unwrap()),
        v["signing_text"]
    );
    auth.verify(platform.public_key(), &target).unwrap();
}

#[test]
fn pin_block() {
    let v = vector("pin_block", || {
        let platform = key("wz vector platform encryption");
        let challenge = *b"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f";
        let block = CredentialPin::parse("58203917")
            .unwrap()
            .seal(&challenge, platform.public_key())
            .unwrap();
        json!({
            "format": "pin_block = SM2Enc(platform encryption key, \"wz-pin-v1\" | challenge(16) | 8 ASCII digits), C1|C3|C2",
            "platform_encryption_private": scalar(&platform),
            "challenge": hex::encode(challenge),
            "pin": "58203917",
            "plaintext": hex::encode([&b"wz-pin-v1"[..], &challenge, b"58203917"].concat()),
            "pin_block": hex::encode(block),
        })
    });
    let platform = private(&v["platform_encryption_private"]);
    let challenge: [u8; 16] = h(&v["challenge"]).try_into().unwrap();
    let block = h(&v["pin_block"]);
    assert_eq!(
        hex::encode(platform.decrypt(&block).unwrap().as_slice()),
        v["plaintext"]
    );
    let keys = Keyring::new(platform.clone());
    let pin = CredentialPin::open(&block, &challenge, &keys, &platform.key_id()).unwrap();
    assert_eq!(pin.expose(), v["pin"].as_str().unwrap().as_bytes());
    let mut other = challenge;
    other[0] ^= 1;
    assert!(CredentialPin::open(&block, &other, &keys, &platform.key_id()).is_err());
}

#[test]
fn card_file() {
    let v = vector("card", || {
        let authority = key("wz vector card authority");
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let card = CardData {
            birth_date: id.birth_date(),
            sex: id.sex(),
            id_number: id,
            name: "测试甲".into(),
            ethnicity: "汉".into(),
            address: "测试市测试路1号".into(),
            valid_from: CivilDate::new(2020, 1, 1).unwrap(),
            valid_to: None,
            photo: b"\xff\xd8 not a real photo".to_vec(),
        }
        .sign(&authority)
        .unwrap();
        json!({
            "format": "card = \"WZCD\" | 0x01 | id_number(18) | str name | sex(1 male, 2 female) | str ethnicity | birth YYYYMMDD | str address | valid_from YYYYMMDD | valid_to YYYYMMDD or 00000000 | u32 photo len | photo | authority_key_id(8) | SM2Sign(authority, \"wz-card-v1\" | all before); str = u16 BE len | UTF-8",
            "authority_private": scalar(&authority),
            "fields": {
                "id_number": "11010519491231002X",
                "name": "测试甲",
                "ethnicity": "汉",
                "address": "测试市测试路1号",
                "valid_from": "2020-01-01",
                "valid_to": null,
                "photo": hex::encode(&card.data.photo),
            },
            "card": hex::encode(card.encode().unwrap()),
        })
    });
    let authority = private(&v["authority_private"]);
    let bytes = h(&v["card"]);
    let card = SignedCard::decode(&bytes).unwrap();
    card.verify(authority.public_key()).unwrap();
    let f = &v["fields"];
    assert_eq!(card.data.id_number.as_str(), f["id_number"]);
    assert_eq!(card.data.name, f["name"]);
    assert_eq!(card.data.ethnicity, f["ethnicity"]);
    assert_eq!(card.data.address, f["address"]);
    assert_eq!(card.data.valid_from.to_string(), f["valid_from"]);
    assert!(card.data.valid_to.is_none() && f["valid_to"].is_null());
    assert_eq!(hex::encode(&card.data.photo), f["photo"]);
    assert_eq!(card.encode().unwrap(), bytes, "re-encodes byte for byte");
    // The signature covers every byte: flipping one in the name fails.
    let mut tampered = bytes.clone();
    tampered[25] ^= 1;
    assert!(SignedCard::decode(&tampered).map_or(true, |c| c.verify(authority.public_key()).is_err()));
}
