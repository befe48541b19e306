//! QR envelope, credential certificate, signed HTTP, PIN block and API types:
//! round trips, tampering and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::OnceLock;

use proptest::prelude::*;
use wz_crypto::{Keyring, Sm2PrivateKey};
use wz_proto::api::{Bytes, IdentityItems, Problem, VerifyRequest, VerifyVerdict};
use wz_proto::qr::{ENVELOPE_LEN, QR_PREFIX};
use wz_proto::{
    AuthMode, CredentialBody, CredentialCert, CredentialId, CredentialPin, IdNumber, Level, QrBody,
    QrEnvelope, RequestAuth, RequestTarget, ResponseAuth, ResponseTarget, ResultCode,
};

struct Keys {
    platform: Sm2PrivateKey,
    device: Sm2PrivateKey,
    rp: Sm2PrivateKey,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| Keys {
        platform: Sm2PrivateKey::generate().unwrap(),
        device: Sm2PrivateKey::generate().unwrap(),
        rp: Sm2PrivateKey::generate().unwrap(),
    })
}

fn body(counter: u32) -> QrBody {
    QrBody {
        cred_id: CredentialId([7; 16]),
        issued_at: 1_795_000_000,
        counter,
        nonce: [counter as u8; 8],
    }
}

#[test]
fn qr_round_trip_and_shape() {
    let k = keys();
    let text = body(1).seal(&k.device, k.platform.public_key()).unwrap();
    assert!(text.starts_with(QR_PREFIX));
    assert_eq!(
        text.len(),
        4 + ENVELOPE_LEN / 2 * 3,
        "fixed length: 304 characters"
    );
    // Only QR alphanumeric-mode characters.
    assert!(
        text.chars()
            .all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c))
    );
    let env = QrEnvelope::parse(&text).unwrap();
    let signed = env.open(&k.platform).unwrap();
    assert_eq!(signed.platform_key_id, k.platform.key_id());
    assert_eq!(signed.verify(k.device.public_key()).unwrap(), body(1));
    // A trailing newline from a scanner is tolerated.
    assert!(QrEnvelope::parse(&format!("{text}\r\n")).is_ok());
    // Same body twice gives two different texts: an observer cannot link them.
    assert_ne!(text, body(1).seal(&k.device, k.platform.public_key()).unwrap());
}

#[test]
fn qr_faults_map_to_codes() {
    let k = keys();
    let text = body(2).seal(&k.device, k.platform.public_key()).unwrap();
    let code = |t: &str| {
        QrEnvelope::parse(t)
            .and_then(|e| e.open(&k.platform))
            .map(|_| ())
            .unwrap_err()
            .code
    };

    assert_eq!(code(""), ResultCode::QrMalformed);
    assert_eq!(code("WZ2:ABC"), ResultCode::QrMalformed);
    assert_eq!(code(&text[..text.len() - 3]), ResultCode::QrMalformed);
    assert_eq!(code(&format!("{text}00")), ResultCode::QrMalformed);
    assert_eq!(code(&"W".repeat(5000)), ResultCode::QrMalformed);
    assert_eq!(
        code("WZ1:abc"),
        ResultCode::QrMalformed,
        "lower case is not base45"
    );

    // Another version byte.
    let mut env = base45::decode(&text[4..]).unwrap();
    env[0] = 2;
    assert_eq!(
        code(&format!("WZ1:{}", base45::encode(&env))),
        ResultCode::QrVersionUnsupported
    );

    // A key hint no platform key has.
    let mut env = base45::decode(&text[4..]).unwrap();
    env[1] ^= 0xff;
    assert_eq!(
        code(&format!("WZ1:{}", base45::encode(&env))),
        ResultCode::QrUnknownKey
    );

    // Flipped ciphertext byte.
    let mut env = base45::decode(&text[4..]).unwrap();
    env[150] ^= 1;
    assert_eq!(
        code(&format!("WZ1:{}", base45::encode(&env))),
        ResultCode::QrMalformed
    );

    // Signed by another device.
    let forged = body(2).seal(&k.rp, k.platform.public_key()).unwrap();
    let signed = QrEnvelope::parse(&forged).unwrap().open(&k.platform).unwrap();
    assert_eq!(
        signed.verify(k.device.public_key()).unwrap_err().code,
        ResultCode::QrSignatureInvalid
    );
}

#[test]
fn qr_freshness_window() {
    let b = body(3);
    assert!(b.check_freshness(b.issued_at + 60, 60).is_ok());
    assert!(b.check_freshness(b.issued_at - 60, 60).is_ok());
    assert_eq!(
        b.check_freshness(b.issued_at + 61, 60).unwrap_err().code,
        ResultCode::QrExpired
    );
    assert_eq!(
        b.check_freshness(b.issued_at - 61, 60).unwrap_err().code,
        ResultCode::QrExpired
    );
}

#[test]
fn qr_opens_after_platform_key_rotation() {
    let k = keys();
    let old = Sm2PrivateKey::from_scalar_bytes(k.platform.to_scalar_bytes().as_slice()).unwrap();
    let mut ring = Keyring::new(old);
    let text = body(4).seal(&k.device, k.platform.public_key()).unwrap();
    ring.rotate(Sm2PrivateKey::generate().unwrap()).unwrap();
    let signed = QrEnvelope::parse(&text).unwrap().open(&ring).unwrap();
    assert_eq!(signed.platform_key_id, k.platform.key_id());
    ring.retire(&k.platform.key_id()).unwrap();
    assert_eq!(
        QrEnvelope::parse(&text).unwrap().open(&ring).unwrap_err().code,
        ResultCode::QrUnknownKey
    );
}

fn cert() -> CredentialCert {
    let k = keys();
    CredentialBody {
        cred_id: CredentialId([9; 16]),
        level: Level::Upgraded,
        device_public_key: k.device.public_key().clone(),
        not_before: 1_795_000_000,
        not_after: 1_795_000_000 + 365 * 86_400,
        issuer_key_id: k.platform.key_id(),
    }
    .sign(&k.platform)
    .unwrap()
}

#[test]
fn credential_round_trip_and_checks() {
    let k = keys();
    let c = cert();
    let bytes = c.encode();
    assert_eq!(bytes.len(), wz_proto::credential::CERT_LEN);
    let back = CredentialCert::decode(&bytes).unwrap();
    assert_eq!(back, c);
    assert_eq!(
        back.encode(),
        bytes,
        "canonical: re-encoding gives the same bytes"
    );
    back.verify(k.platform.public_key()).unwrap();
    assert_eq!(
        back.verify(k.rp.public_key()).unwrap_err().code,
        ResultCode::CredentialInvalid
    );
    assert!(c.check_validity(c.body.not_before).is_ok());
    assert_eq!(
        c.check_validity(c.body.not_after).unwrap_err().code,
        ResultCode::CredentialExpired
    );
    assert_eq!(
        c.check_validity(c.body.not_before - 1).unwrap_err().code,
        ResultCode::CredentialExpired
    );
    // Signing with a key other than the named issuer is refused.
    let mut b = c.body.clone();
    b.issuer_key_id = k.rp.key_id();
    assert!(b.sign(&k.platform).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every single-byte change is either refused by decode or by verify.
    #[test]
    fn credential_tampering_is_caught(pos in 0usize..wz_proto::credential::CERT_LEN, x in 1u8..=255) {
        let k = keys();
        let mut bytes = cert().encode();
        bytes[pos] ^= x;
        let r = CredentialCert::decode(&bytes).and_then(|c| c.verify(k.platform.public_key()));
        prop_assert!(r.is_err());
    }

    #[test]
    fn credential_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = CredentialCert::decode(&bytes);
    }

    #[test]
    fn qr_parse_never_panics(s in "(WZ1:)?[0-9A-Z $%*+./:-]{0,400}") {
        if let Ok(env) = QrEnvelope::parse(&s) {
            let _ = env.open(&keys().platform);
        }
    }

    #[test]
    fn qr_body_round_trips(cred in any::<[u8; 16]>(), at in any::<u64>(), counter in any::<u32>(), nonce in any::<[u8; 8]>()) {
        let k = keys();
        let b = QrBody { cred_id: CredentialId(cred), issued_at: at, counter, nonce };
        let text = b.seal(&k.device, k.platform.public_key()).unwrap();
        let got = QrEnvelope::parse(&text).unwrap().open(&k.platform).unwrap().verify(k.device.public_key()).unwrap();
        prop_assert_eq!(got, b);
    }

    #[test]
    fn request_headers_never_panic(rp in "\\PC{0,70}", kid in "\\PC{0,20}", ts in "\\PC{0,25}", nonce in "\\PC{0,70}", sig in "\\PC{0,140}") {
        let h = [("x-wz-rp-id", rp), ("x-wz-key-id", kid), ("x-wz-timestamp", ts), ("x-wz-nonce", nonce), ("x-wz-signature", sig)];
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        if let Ok(auth) = RequestAuth::from_headers(get) {
            let t = RequestTarget { method: "POST", path: "/v1/verify", body: b"{}" };
            let _ = auth.verify_signature(keys().rp.public_key(), &t);
        }
    }
}

fn signed_request(body: &[u8]) -> (RequestAuth, Vec<(&'static str, String)>) {
    let k = keys();
    let t = RequestTarget {
        method: "POST",
        path: "/v1/verify",
        body,
    };
    let auth = RequestAuth::sign(
        &k.rp,
        "hotel-001",
        &t,
        1_795_000_000,
        "00112233445566778899aabbccddeeff",
    )
    .unwrap();
    let headers = auth.to_headers().to_vec();
    (auth, headers)
}

#[test]
fn rp_request_signature_round_trip_and_tampering() {
    let k = keys();
    let body = br#"{"mode":"0x04"}"#;
    let (_, headers) = signed_request(body);
    let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
    let auth = RequestAuth::from_headers(get).unwrap();
    let t = RequestTarget {
        method: "POST",
        path: "/v1/verify",
        body,
    };
    auth.verify_signature(k.rp.public_key(), &t).unwrap();
    auth.check_timestamp(1_795_000_100, 300).unwrap();
    assert_eq!(
        auth.check_timestamp(1_795_000_301, 300).unwrap_err().code,
        ResultCode::RequestExpired
    );

    let sig_fails =
        |t: RequestTarget<'_>, a: &RequestAuth| a.verify_signature(k.rp.public_key(), &t).unwrap_err().code;
    assert_eq!(
        sig_fails(RequestTarget { body: b"{}", ..t }, &auth),
        ResultCode::RpSignatureInvalid
    );
    assert_eq!(
        sig_fails(
            RequestTarget {
                path: "/v1/verify?x=1",
                ..t
            },
            &auth
        ),
        ResultCode::RpSignatureInvalid
    );
    assert_eq!(
        sig_fails(RequestTarget { method: "PUT", ..t }, &auth),
        ResultCode::RpSignatureInvalid
    );
    let mut other = auth.clone();
    other.rp_id = "cafe-002".into();
    assert_eq!(sig_fails(t, &other), ResultCode::RpSignatureInvalid);
    let mut other = auth.clone();
    other.timestamp += 1;
    assert_eq!(sig_fails(t, &other), ResultCode::RpSignatureInvalid);
    // The key id must be the registered key's.
    assert_eq!(
        auth.verify_signature(k.platform.public_key(), &t)
            .unwrap_err()
            .code,
        ResultCode::RpKeyInvalid
    );
    // Line breaks cannot be smuggled into the signed text.
    assert!(
        RequestAuth::sign(
            &k.rp,
            "hotel-001",
            &RequestTarget {
                path: "/v1\n/verify",
                ..t
            },
            1,
            "00112233445566778899aabbccddeeff"
        )
        .is_err()
    );
    // Missing header.
    let get_missing = |n: &str| if n == "x-wz-nonce" { None } else { get(n) };
    assert_eq!(
        RequestAuth::from_headers(get_missing).unwrap_err().code,
        ResultCode::RequestMalformed
    );
}

#[test]
fn verdict_signature_binds_request_nonce_and_body() {
    let k = keys();
    let body = br#"{"result":"pass"}"#;
    let t = ResponseTarget {
        status: 200,
        rp_id: "hotel-001",
        request_nonce: "00112233445566778899aabbccddeeff",
        body,
    };
    let auth = ResponseAuth::sign(&k.platform, &t, 1_795_000_000).unwrap();
    let headers = auth.to_headers();
    let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
    let back = ResponseAuth::from_headers(get).unwrap();
    back.verify(k.platform.public_key(), &t).unwrap();
    let other_nonce = ResponseTarget {
        request_nonce: "ffeeddccbbaa99887766554433221100",
        ..t
    };
    assert_eq!(
        back.verify(k.platform.public_key(), &other_nonce)
            .unwrap_err()
            .code,
        ResultCode::VerdictSignatureInvalid
    );
    let other_body = ResponseTarget {
        body: br#"{"result":"fail"}"#,
        ..t
    };
    assert!(back.verify(k.platform.public_key(), &other_body).is_err());
    assert!(back.verify(k.rp.public_key(), &t).is_err());
}

#[test]
fn pin_block_round_trip() {
    let k = keys();
    let challenge = [5u8; 16];
    let pin = CredentialPin::parse_new("20261126").unwrap();
    let block = pin.seal(&challenge, k.platform.public_key()).unwrap();
    let back = CredentialPin::open(&block, &challenge, &k.platform, &k.platform.key_id()).unwrap();
    assert_eq!(back, pin);
    assert!(CredentialPin::open(&block, &[6u8; 16], &k.platform, &k.platform.key_id()).is_err());
    assert!(CredentialPin::open(&block[1..], &challenge, &k.platform, &k.platform.key_id()).is_err());
    assert_eq!(format!("{pin:?}"), "CredentialPin(<redacted>)");
    for weak in ["00000000", "12345678", "87654321", "99999999"] {
        assert!(CredentialPin::parse_new(weak).is_err(), "{weak}");
        assert!(
            CredentialPin::parse(weak).is_ok(),
            "{weak} is a PIN, just a weak one"
        );
    }
    for bad in ["", "1234567", "123456789", "1234567a", "１２３４５６７８"] {
        assert!(CredentialPin::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn attribute_json_names_match_their_text_names() {
    for a in wz_proto::api::Attribute::ALL {
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.name()));
        assert_eq!(wz_proto::api::Attribute::parse_list(a.name()).unwrap(), vec![a]);
    }
}

#[test]
fn api_types_round_trip_and_redact() {
    let req = VerifyRequest {
        mode: AuthMode::from_bits(0x06).unwrap(),
        qr: Some("WZ1:ABC".into()),
        face_frames: vec![Bytes(vec![1, 2, 3])],
        challenge_id: Some("c1".into()),
        pin_block: None,
        items: Some(IdentityItems {
            name: "测试名".into(),
            id_number: IdNumber::parse("11010519491231002X").unwrap(),
            card_valid_from: None,
            card_valid_to: None,
        }),
        card_data: None,
    };
    let json = serde_json::to_string(&req).unwrap();
    assert!(json.contains(r#""mode":"0x06""#) && json.contains(r#""face_frames":["AQID"]"#));
    assert_eq!(serde_json::from_str::<VerifyRequest>(&json).unwrap(), req);
    let dbg = format!("{req:?}");
    assert!(
        !dbg.contains("测试名") && !dbg.contains("11010519491231002X"),
        "{dbg}"
    );

    // A bad check digit in JSON is refused at the boundary.
    let bad = json.replace("11010519491231002X", "110105194912310029");
    assert!(serde_json::from_str::<VerifyRequest>(&bad).is_err());
    assert!(serde_json::from_str::<VerifyRequest>(r#"{"mode":"0x80"}"#).is_err());

    let verdict = VerifyVerdict {
        serial: "v-1".into(),
        result: ResultCode::Pass,
        result_code: 0,
        mode: AuthMode::QR,
        level: Some(Level::Lightweight),
        time: 1,
        pseudonym: Some("ab".into()),
        released: vec![],
        attributes: None,
    };
    let j = serde_json::to_string(&verdict).unwrap();
    assert_eq!(serde_json::from_str::<VerifyVerdict>(&j).unwrap(), verdict);
    let p = serde_json::to_value(Problem::new(ResultCode::QrReplayed, None)).unwrap();
    assert_eq!(p["type"], "urn:wangzheng:error:qr_replayed");
    assert_eq!(p["code"], "qr_replayed");
    assert_eq!(p["code_number"], 1003);
}
