//! Card chip data from a reader or a `.wzc` file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wz_crypto::Sm2PrivateKey;
use wz_proto::SignedCard;

fn authority() -> &'static Sm2PrivateKey {
    static K: OnceLock<Sm2PrivateKey> = OnceLock::new();
    K.get_or_init(|| Sm2PrivateKey::from_scalar_bytes(&[0x55; 32]).unwrap())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = SignedCard::decode(data) {
        assert_eq!(card.encode().unwrap(), data, "decode/encode must be canonical");
        let _ = card.verify(authority().public_key());
        let _ = card.check_validity(card.data.valid_from);
    }
});
