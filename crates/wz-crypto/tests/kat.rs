//! Known-answer tests from the GB/T standards' own examples (and RFC 8998
//! for SM4-GCM). Vectors live in `vectors/national.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;

use sm4::cipher::{BlockCipherEncrypt, KeyInit};
use wz_crypto::{CipherLayout, Sm2PrivateKey, Sm2PublicKey, Sm2Signature, Sm4Key, sm3};

fn vectors() -> HashMap<&'static str, Vec<u8>> {
    include_str!("vectors/national.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("name = hex");
            (k.trim(), hex::decode(v.trim()).expect("hex"))
        })
        .collect()
}

#[test]
fn sm3_standard_examples() {
    let v = vectors();
    assert_eq!(sm3(&v["sm3.abc.msg"]).to_vec(), v["sm3.abc.digest"]);
    assert_eq!(sm3(&v["sm3.abcd16.msg"]).to_vec(), v["sm3.abcd16.digest"]);
    let mut h = wz_crypto::Sm3Hasher::new();
    for chunk in v["sm3.abcd16.msg"].chunks(7) {
        h.update(chunk);
    }
    assert_eq!(h.finalize().to_vec(), v["sm3.abcd16.digest"]);
}

#[test]
fn sm4_standard_examples_including_one_million_rounds() {
    let v = vectors();
    let cipher = sm4::Sm4::new_from_slice(&v["sm4.key"]).unwrap();
    let mut block = sm4::cipher::Block::<sm4::Sm4>::try_from(&v["sm4.plain"][..]).unwrap();
    cipher.encrypt_block(&mut block);
    assert_eq!(block.to_vec(), v["sm4.cipher1"]);
    for _ in 1..1_000_000 {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(block.to_vec(), v["sm4.cipher1m"]);
}

#[test]
fn sm4_gcm_rfc8998_example() {
    let v = vectors();
    let key = Sm4Key::from_slice(&v["gcm.key"]).unwrap();
    let iv: [u8; 12] = v["gcm.iv"].clone().try_into().unwrap();
    let sealed = key.seal_with_nonce(&iv, &v["gcm.plain"], &v["gcm.aad"]).unwrap();
    let mut expected = v["gcm.iv"].clone();
    expected.extend_from_slice(&v["gcm.cipher"]);
    expected.extend_from_slice(&v["gcm.tag"]);
    assert_eq!(sealed, expected);
    assert_eq!(
        key.open(&sealed, &v["gcm.aad"]).unwrap().as_slice(),
        &v["gcm.plain"][..]
    );
}

#[test]
fn sm2_recommended_curve_key_and_signature_example() {
    let v = vectors();
    let sk = Sm2PrivateKey::from_scalar_bytes(&v["sm2.d"]).unwrap();
    assert_eq!(sk.public_key().to_sec1_bytes().to_vec(), v["sm2.pub"]);

    let mut rs = v["sm2.sign.r"].clone();
    rs.extend_from_slice(&v["sm2.sign.s"]);
    let sig = Sm2Signature::from_bytes(&rs).unwrap();
    let id = std::str::from_utf8(&v["sm2.sign.id"]).unwrap();
    assert_eq!(id, wz_crypto::DEFAULT_USER_ID);
    let pk = Sm2PublicKey::from_sec1_bytes(&v["sm2.pub"]).unwrap();
    pk.verify(&v["sm2.sign.msg"], &sig).unwrap();
    pk.verify_with_id(id, &v["sm2.sign.msg"], &sig).unwrap();
    // Any other message, or another signer id, must fail.
    assert!(pk.verify(b"message digesT", &sig).is_err());
    assert!(
        pk.verify_with_id("ALICE123@YAHOO.COM", &v["sm2.sign.msg"], &sig)
            .is_err()
    );
    // DER round trip of the published signature.
    assert_eq!(Sm2Signature::from_der(&sig.to_der()).unwrap(), sig);
    // Our own signature over the same message verifies too.
    let ours = sk.sign(&v["sm2.sign.msg"]).unwrap();
    pk.verify(&v["sm2.sign.msg"], &ours).unwrap();
}

/// Hands out a fixed k, reproducing the standard's encryption example.
struct FixedK(Vec<u8>);
impl rand_core::TryRng for FixedK {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unimplemented!()
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unimplemented!()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.copy_from_slice(&self.0[..dst.len()]);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for FixedK {}

#[test]
fn sm2_recommended_curve_encryption_example() {
    let v = vectors();
    let sk = Sm2PrivateKey::from_scalar_bytes(&v["sm2.d"]).unwrap();
    let c1c3c2 = [
        v["sm2.enc.c1"].clone(),
        v["sm2.enc.c3"].clone(),
        v["sm2.enc.c2"].clone(),
    ]
    .concat();
    let c1c2c3 = [
        v["sm2.enc.c1"].clone(),
        v["sm2.enc.c2"].clone(),
        v["sm2.enc.c3"].clone(),
    ]
    .concat();

    // Decrypting the published ciphertext, both layouts.
    assert_eq!(sk.decrypt(&c1c3c2).unwrap().as_slice(), &v["sm2.enc.msg"][..]);
    assert_eq!(
        sk.decrypt_with_layout(&c1c2c3, CipherLayout::C1C2C3)
            .unwrap()
            .as_slice(),
        &v["sm2.enc.msg"][..]
    );
    // The wrong layout is refused, not misread.
    assert!(sk.decrypt(&c1c2c3).is_err());

    // Encrypting with the published k gives the published bytes.
    let ct = sk
        .public_key()
        .encrypt_with_rng(&mut FixedK(v["sm2.k"].clone()), &v["sm2.enc.msg"])
        .unwrap();
    assert_eq!(hex::encode(ct), hex::encode(c1c3c2));
}
