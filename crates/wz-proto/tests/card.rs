//! Virtual ID card chip data: round trip, authority signature, hostile bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use wz_crypto::Sm2PrivateKey;
use wz_proto::{CardData, CivilDate, IdNumber, ResultCode, Sex, SignedCard};

fn data() -> CardData {
    CardData {
        id_number: IdNumber::parse("11010519491231002X").unwrap(),
        name: "测试甲".into(),
        sex: Sex::Female,
        ethnicity: "汉".into(),
        birth_date: CivilDate::new(1949, 12, 31).unwrap(),
        address: "北京市朝阳区测试路1号".into(),
        valid_from: CivilDate::new(2020, 1, 1).unwrap(),
        valid_to: Some(CivilDate::new(2040, 1, 1).unwrap()),
        photo: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
    }
}

#[test]
fn card_round_trip_and_signature() {
    let authority = Sm2PrivateKey::generate().unwrap();
    let card = data().sign(&authority).unwrap();
    let bytes = card.encode().unwrap();
    let back = SignedCard::decode(&bytes).unwrap();
    assert_eq!(back, card);
    back.verify(authority.public_key()).unwrap();
    assert!(!format!("{back:?}").contains("测试甲"));
    // Another authority, or one changed byte, is refused.
    let other = Sm2PrivateKey::generate().unwrap();
    assert_eq!(
        back.verify(other.public_key()).unwrap_err().code,
        ResultCode::CardDataInvalid
    );
    for pos in [5, 30, bytes.len() - 70, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[pos] ^= 1;
        assert!(
            SignedCard::decode(&b)
                .and_then(|c| c.verify(authority.public_key()))
                .is_err(),
            "{pos}"
        );
    }
    // Validity.
    card.check_validity(CivilDate::new(2030, 6, 1).unwrap()).unwrap();
    assert_eq!(
        card.check_validity(CivilDate::new(2041, 1, 1).unwrap())
            .unwrap_err()
            .code,
        ResultCode::CardExpired
    );
    let long_term = CardData {
        valid_to: None,
        ..data()
    }
    .sign(&authority)
    .unwrap();
    let back = SignedCard::decode(&long_term.encode().unwrap()).unwrap();
    assert_eq!(back.data.valid_to, None);
    back.check_validity(CivilDate::new(2090, 1, 1).unwrap()).unwrap();
    // Sex that disagrees with the ID number is refused.
    let wrong = CardData {
        sex: Sex::Male,
        ..data()
    }
    .sign(&authority)
    .unwrap();
    assert!(SignedCard::decode(&wrong.encode().unwrap()).is_err());
}

/// Found by the `card_decode` fuzzer: a lower-case `x` check character
/// parsed, but re-encoded differently. Now refused at decode.
#[test]
fn lower_case_check_character_is_not_canonical() {
    let authority = Sm2PrivateKey::generate().unwrap();
    let mut bytes = data().sign(&authority).unwrap().encode().unwrap();
    let pos = 5 + 17;
    assert_eq!(bytes[pos], b'X');
    bytes[pos] = b'x';
    assert_eq!(
        SignedCard::decode(&bytes).unwrap_err().code,
        ResultCode::CardDataInvalid
    );
    let found = include_bytes!(
        "../../../fuzz/regressions/card_decode/crash-f58ff104ffb7c3bf472b8b6fbbcd7b226140031c"
    );
    assert!(SignedCard::decode(found).is_err());
}

proptest! {
    #[test]
    fn card_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedCard::decode(&bytes);
    }

    #[test]
    fn truncations_are_refused(cut in 0usize..200) {
        let authority = Sm2PrivateKey::from_scalar_bytes(&[9; 32]).unwrap();
        let bytes = data().sign(&authority).unwrap().encode().unwrap();
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(SignedCard::decode(&bytes[..cut]).is_err());
    }
}
