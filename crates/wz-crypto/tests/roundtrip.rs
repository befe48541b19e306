//! Round trips, tamper checks and redaction for every wz-crypto type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use wz_crypto::{
    CryptoError, KeyId, Keyring, PinHash, Sm2PrivateKey, Sm2PublicKey, Sm2Signature, Sm4Key, hmac_sm3,
    hmac_sm3_verify, sm3, sm3_parts,
};

fn key() -> &'static Sm2PrivateKey {
    static K: std::sync::OnceLock<Sm2PrivateKey> = std::sync::OnceLock::new();
    K.get_or_init(|| Sm2PrivateKey::generate().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sm2_sign_verify(msg in proptest::collection::vec(any::<u8>(), 0..300), flip in any::<usize>()) {
        let k = key();
        let sig = k.sign(&msg).unwrap();
        k.public_key().verify(&msg, &sig).unwrap();
        let raw = Sm2Signature::from_bytes(&sig.to_bytes()).unwrap();
        let der = Sm2Signature::from_der(&sig.to_der()).unwrap();
        prop_assert_eq!(raw, sig);
        prop_assert_eq!(der, sig);
        if !msg.is_empty() {
            let mut bad = msg.clone();
            let i = flip % bad.len();
            bad[i] ^= 0x01;
            prop_assert_eq!(k.public_key().verify(&bad, &sig), Err(CryptoError::BadSignature));
        }
    }

    #[test]
    fn sm2_encrypt_decrypt(msg in proptest::collection::vec(any::<u8>(), 1..300), flip in any::<usize>()) {
        let k = key();
        let ct = k.public_key().encrypt(&msg).unwrap();
        prop_assert_eq!(ct.len(), msg.len() + wz_crypto::sm2::CIPHERTEXT_OVERHEAD);
        prop_assert_eq!(k.decrypt(&ct).unwrap().to_vec(), msg.clone());
        let mut bad = ct.clone();
        let i = flip % bad.len();
        bad[i] ^= 0x80;
        prop_assert!(k.decrypt(&bad).is_err());
    }

    #[test]
    fn sm2_decrypt_never_panics_on_junk(junk in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = key().decrypt(&junk);
        let _ = key().decrypt_with_layout(&junk, wz_crypto::CipherLayout::C1C2C3);
        let _ = Sm2Signature::from_der(&junk);
        let _ = Sm2Signature::from_bytes(&junk);
        let _ = Sm2PublicKey::from_sec1_bytes(&junk);
        let _ = Sm2PublicKey::from_public_key_der(&junk);
        let _ = Sm2PrivateKey::from_pkcs8_der(&junk);
    }

    #[test]
    fn sm4_gcm_seal_open(msg in proptest::collection::vec(any::<u8>(), 0..500),
                         aad in proptest::collection::vec(any::<u8>(), 0..40),
                         flip in any::<usize>()) {
        let k = Sm4Key::generate().unwrap();
        let sealed = k.seal(&msg, &aad).unwrap();
        prop_assert_eq!(sealed.len(), msg.len() + wz_crypto::NONCE_LEN + wz_crypto::TAG_LEN);
        prop_assert_eq!(k.open(&sealed, &aad).unwrap().to_vec(), msg.clone());
        let mut bad = sealed.clone();
        let i = flip % bad.len();
        bad[i] ^= 0x01;
        prop_assert_eq!(k.open(&bad, &aad), Err(CryptoError::AeadOpen));
        let mut other_aad = aad.clone();
        other_aad.push(0);
        prop_assert_eq!(k.open(&sealed, &other_aad), Err(CryptoError::AeadOpen));
    }

    #[test]
    fn hmac_matches_rfc2104_construction(key in proptest::collection::vec(any::<u8>(), 0..100),
                                         data in proptest::collection::vec(any::<u8>(), 0..200)) {
        // HMAC(K, m) = H((K' ^ opad) | H((K' ^ ipad) | m)), block size 64.
        let mut k0 = if key.len() > 64 { sm3(&key).to_vec() } else { key.clone() };
        k0.resize(64, 0);
        let ipad: Vec<u8> = k0.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k0.iter().map(|b| b ^ 0x5c).collect();
        let inner = sm3_parts(&[&ipad, &data]);
        let expected = sm3_parts(&[&opad, &inner]);
        prop_assert_eq!(hmac_sm3(&key, &data), expected);
        prop_assert!(hmac_sm3_verify(&key, &data, &expected));
        prop_assert!(!hmac_sm3_verify(&key, &data, &expected[..31]));
    }
}

#[test]
fn key_encodings_round_trip() {
    let k = Sm2PrivateKey::generate().unwrap();
    let pk = k.public_key();
    for again in [
        Sm2PrivateKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap(),
        Sm2PrivateKey::from_pkcs8_pem(&k.to_pkcs8_pem().unwrap()).unwrap(),
        Sm2PrivateKey::from_sec1_der(&k.to_sec1_der().unwrap()).unwrap(),
        Sm2PrivateKey::from_pem(&k.to_sec1_pem().unwrap()).unwrap(),
        Sm2PrivateKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap(),
        Sm2PrivateKey::from_scalar_bytes(k.to_scalar_bytes().as_slice()).unwrap(),
    ] {
        assert_eq!(again.key_id(), k.key_id());
        assert_eq!(again.public_key(), pk);
    }
    let spki = pk.to_public_key_der().unwrap();
    assert_eq!(Sm2PublicKey::from_public_key_der(&spki).unwrap(), *pk);
    assert_eq!(
        Sm2PublicKey::from_public_key_pem(&pk.to_public_key_pem().unwrap()).unwrap(),
        *pk
    );
    assert_eq!(Sm2PublicKey::from_sec1_bytes(&pk.to_sec1_bytes()).unwrap(), *pk);
    // Key id = first 8 bytes of SM3 over the SPKI DER.
    assert_eq!(pk.key_id().0, sm3(&spki)[..8]);
    assert_eq!(pk.key_id().to_string().parse::<KeyId>().unwrap(), pk.key_id());
    // The SM2 curve OID is in the encodings.
    let oid = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
    assert!(spki.windows(oid.len()).any(|w| w == oid));
    assert!(k.to_pkcs8_der().unwrap().windows(oid.len()).any(|w| w == oid));
}

/// A P-256 key (RFC 5915 / openssl) must not be accepted as SM2.
#[test]
fn other_curves_are_refused() {
    let p256_spki = hex::decode(
        "3059301306072a8648ce3d020106082a8648ce3d03010703420004\
         6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
         4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    )
    .unwrap();
    assert_eq!(
        Sm2PublicKey::from_public_key_der(&p256_spki),
        Err(CryptoError::WrongCurve)
    );
}

#[test]
fn user_id_changes_the_signature_domain() {
    let k = key();
    let sig = k.sign_with_id("alice@example.invalid", b"m").unwrap();
    k.public_key()
        .verify_with_id("alice@example.invalid", b"m", &sig)
        .unwrap();
    assert!(k.public_key().verify(b"m", &sig).is_err());
}

#[test]
fn secrets_never_print() {
    let k = Sm2PrivateKey::generate().unwrap();
    let scalar = hex::encode(k.to_scalar_bytes().as_slice());
    let shown = format!("{k:?}");
    assert!(!shown.contains(&scalar));
    assert!(shown.contains("redacted"));
    let s4 = Sm4Key::from_slice(&[0xab; 16]).unwrap();
    assert!(!format!("{s4:?}").contains("abab"));
    let h = PinHash::create(b"12345678", None, 10_000).unwrap();
    assert!(!format!("{h:?}").contains(&h.to_phc_string()[20..]));
}

#[test]
fn pin_hash_round_trip_and_parameter_guards() {
    let h = PinHash::create(b"20261126", Some(b"pepper"), 10_000).unwrap();
    assert!(h.verify(b"20261126", Some(b"pepper")).unwrap());
    assert!(!h.verify(b"20261127", Some(b"pepper")).unwrap());
    assert!(!h.verify(b"20261126", None).unwrap());
    let s = h.to_phc_string();
    assert!(s.starts_with("$pbkdf2-sm3$i=10000$"));
    let back = PinHash::from_phc_string(&s).unwrap();
    assert_eq!(back, h);
    // Downgraded or absurd parameters are refused.
    let weak = s.replace("i=10000", "i=10");
    assert!(matches!(
        PinHash::from_phc_string(&weak),
        Err(CryptoError::KdfParams(_))
    ));
    let huge = s.replace("i=10000", "i=4000000000");
    assert!(matches!(
        PinHash::from_phc_string(&huge),
        Err(CryptoError::KdfParams(_))
    ));
    for junk in [
        "",
        "$",
        "$pbkdf2-sm3$i=10000$zz$00",
        "$argon2id$i=10000$00$00",
        &format!("{s}$x"),
    ] {
        assert!(PinHash::from_phc_string(junk).is_err(), "{junk}");
    }
    assert!(PinHash::create(b"1", None, 5).is_err());
}

#[test]
fn pbkdf2_is_deterministic_and_salted() {
    let a = wz_crypto::pbkdf2_sm3(b"pw", b"salt-one", 1000).unwrap();
    let b = wz_crypto::pbkdf2_sm3(b"pw", b"salt-one", 1000).unwrap();
    let c = wz_crypto::pbkdf2_sm3(b"pw", b"salt-two", 1000).unwrap();
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
    // One iteration of PBKDF2 is HMAC(P, S | INT(1)) (RFC 8018 §5.2).
    let one = wz_crypto::pbkdf2_sm3(b"pw", b"s", 1).unwrap();
    assert_eq!(*one, hmac_sm3(b"pw", b"s\x00\x00\x00\x01"));
}

#[test]
fn keyring_rotation() {
    let first = Sm2PrivateKey::generate().unwrap();
    let first_id = first.key_id();
    let mut ring = Keyring::new(first);
    let ct_old = ring.current().public_key().encrypt(b"old qr").unwrap();
    let second_id = ring.rotate(Sm2PrivateKey::generate().unwrap()).unwrap();
    assert_eq!(ring.current_id(), second_id);
    assert_eq!(ring.len(), 2);
    // Old ciphertexts still open with the old key while it drains.
    assert_eq!(
        ring.get(&first_id).unwrap().decrypt(&ct_old).unwrap().as_slice(),
        b"old qr"
    );
    assert!(ring.retire(&second_id).is_err(), "current key cannot be retired");
    ring.retire(&first_id).unwrap();
    assert_eq!(
        ring.get(&first_id).unwrap_err(),
        CryptoError::UnknownKeyId(first_id)
    );
    let dup = Sm2PrivateKey::from_scalar_bytes(ring.current().to_scalar_bytes().as_slice()).unwrap();
    assert_eq!(ring.insert(dup), Err(CryptoError::DuplicateKeyId(second_id)));
    assert_eq!(ring.public_keys().count(), 1);
}

/// The crate's own (constant-time) verifier, the reference for ours.
fn reference_accepts(key: &Sm2PublicKey, user_id: &str, msg: &[u8], sig: &[u8]) -> bool {
    use sm2::dsa::signature::Verifier as _;
    let Ok(sig) = sm2::dsa::Signature::try_from(sig) else {
        return false;
    };
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(user_id, &key.to_sec1_bytes()).unwrap();
    vk.verify(msg, &sig).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Our variable-time verification (plain, and with the key's table)
    /// accepts exactly what the `sm2` crate's verifier accepts: real
    /// signatures, and tampered messages, r, s or signer ids.
    #[test]
    fn fast_verify_agrees_with_the_reference(
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        tamper in 0u8..6,
        at in any::<usize>(),
        junk in proptest::array::uniform32(any::<u8>()),
    ) {
        let signer = Sm2PrivateKey::generate().unwrap();
        let plain = signer.public_key().clone();
        let tabled = plain.clone().with_verify_table();
        let mut m = msg.clone();
        let mut raw = signer.sign(&msg).unwrap().to_bytes();
        let mut id = wz_crypto::DEFAULT_USER_ID;
        match tamper {
            0 => {}
            // An empty message has nothing to flip: it stays valid (and
            // must not fall through to the signer-id arm below).
            1 => if !m.is_empty() { let i = at % m.len(); m[i] ^= 0x80; },
            2 => raw[at % 32] ^= 1 << (at % 8),
            3 => raw[32 + at % 32] ^= 1 << (at % 8),
            4 => { raw[..32].copy_from_slice(&junk); }
            _ => id = "ALICE123@YAHOO.COM",
        }
        let expect = reference_accepts(&plain, id, &m, &raw);
        prop_assert_eq!(expect, tamper == 0 || (tamper == 1 && m.is_empty()));
        match Sm2Signature::from_bytes(&raw) {
            Ok(sig) => {
                prop_assert_eq!(plain.verify_with_id(id, &m, &sig).is_ok(), expect);
                prop_assert_eq!(tabled.verify_with_id(id, &m, &sig).is_ok(), expect);
                if id == wz_crypto::DEFAULT_USER_ID {
                    prop_assert_eq!(tabled.verify(&m, &sig).is_ok(), expect);
                }
            }
            Err(_) => prop_assert!(!expect),
        }
    }
}
