//! ID numbers, dates, auth modes and the result-code table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashSet;

use proptest::prelude::*;
use wz_proto::{AuthMode, CivilDate, IdNumber, IdNumberError, ResultCode, Sex};

/// The worked example printed in GB 11643-1999 itself.
const STANDARD_EXAMPLE: &str = "11010519491231002X";

#[test]
fn standard_example_is_valid_and_decoded() {
    let id = IdNumber::parse(STANDARD_EXAMPLE).unwrap();
    assert_eq!(id.region_code(), 110_105);
    assert_eq!(id.birth_date(), CivilDate::new(1949, 12, 31).unwrap());
    assert_eq!(id.sex(), Sex::Female);
    assert_eq!(id.masked(), "1****************X");
    assert_eq!(format!("{id:?}"), "IdNumber(<redacted>)");
    // Lower-case x is accepted and normalised.
    assert_eq!(IdNumber::parse(&STANDARD_EXAMPLE.to_lowercase()).unwrap(), id);
    assert_eq!(IdNumber::parse("440524188001010014").unwrap().sex(), Sex::Male);
}

#[test]
fn each_fault_has_its_own_error() {
    let cases: &[(&str, IdNumberError)] = &[
        ("", IdNumberError::Length),
        ("11010519491231002", IdNumberError::Length),
        ("11010519491231002X1", IdNumberError::Length),
        (" 1010519491231002X", IdNumberError::NotDigit(1)),
        ("1101051949123100AX", IdNumberError::NotDigit(17)),
        ("11010519491231002Y", IdNumberError::CheckCharacter),
        ("99010519491231002X", IdNumberError::Region),
        ("11010519491331002X", IdNumberError::BirthDate),
        ("11010519490229002X", IdNumberError::BirthDate),
        ("11010519491231000X", IdNumberError::Sequence),
        ("110105194912310029", IdNumberError::CheckDigit),
    ];
    for (input, want) in cases {
        assert_eq!(IdNumber::parse(input).unwrap_err(), *want, "{input:?}");
    }
    // Multi-byte input of 18 bytes must not panic.
    assert!(IdNumber::parse("一二三四五六").is_err());
    let today = CivilDate::new(2026, 11, 26).unwrap();
    let future = IdNumber::from_parts(110_105, CivilDate::new(2030, 1, 1).unwrap(), 1).unwrap();
    assert_eq!(
        IdNumber::parse_on(future.as_str(), today).unwrap_err(),
        IdNumberError::BirthInFuture
    );
    // Error text never echoes the input.
    for (input, _) in cases {
        let e = wz_proto::ProtoError::from(IdNumber::parse(input).unwrap_err());
        assert_eq!(e.code, ResultCode::IdNumberInvalid);
        if input.len() > 3 {
            assert!(!e.to_string().contains(input));
        }
    }
}

fn any_date() -> impl Strategy<Value = CivilDate> {
    (1900u16..2026, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| CivilDate::new(y, m, d).unwrap())
}

fn any_id() -> impl Strategy<Value = IdNumber> {
    (
        prop::sample::select(vec![110_105u32, 310_104, 440_305, 510_107, 650_102, 820_000]),
        any_date(),
        1u16..=999,
    )
        .prop_map(|(r, b, s)| IdNumber::from_parts(r, b, s).unwrap())
}

proptest! {
    #[test]
    fn generated_numbers_round_trip(id in any_id()) {
        let again = IdNumber::parse(id.as_str()).unwrap();
        prop_assert_eq!(&again, &id);
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<IdNumber>(&json).unwrap(), id);
    }

    /// MOD 11-2 catches every single-character substitution.
    #[test]
    fn any_single_digit_change_is_caught(id in any_id(), pos in 0usize..17, delta in 1u8..10) {
        let mut b = id.as_str().as_bytes().to_vec();
        b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
        prop_assert!(IdNumber::parse(std::str::from_utf8(&b).unwrap()).is_err());
    }

    /// ... and every swap of two different adjacent digits.
    #[test]
    fn adjacent_transpositions_are_caught(id in any_id(), pos in 0usize..16) {
        let mut b = id.as_str().as_bytes().to_vec();
        prop_assume!(b[pos] != b[pos + 1]);
        b.swap(pos, pos + 1);
        prop_assert!(IdNumber::parse(std::str::from_utf8(&b).unwrap()).is_err());
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,24}") {
        let _ = IdNumber::parse(&s);
    }

    #[test]
    fn dates_round_trip_through_unix_days(d in any_date()) {
        let secs = d.days_since_epoch() * 86_400 + 43_210;
        prop_assert_eq!(CivilDate::from_unix_seconds(secs).unwrap(), d);
        prop_assert_eq!(d.to_string().parse::<CivilDate>().unwrap(), d);
        prop_assert_eq!(CivilDate::parse_compact(&d.to_compact()).unwrap(), d);
    }

    #[test]
    fn every_valid_mode_round_trips(bits in 1u8..=0x7f) {
        let r = AuthMode::from_bits(bits);
        if bits & !AuthMode::ALL_BITS != 0 {
            prop_assert!(r.is_err());
        } else {
            let m = r.unwrap();
            prop_assert_eq!(m.to_string().parse::<AuthMode>().unwrap(), m);
            prop_assert_eq!(m.names().parse::<AuthMode>().unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<AuthMode>(&json).unwrap(), m);
        }
    }
}

#[test]
fn dates_and_ages() {
    assert_eq!(CivilDate::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
    assert!(CivilDate::new(2024, 2, 29).is_ok());
    assert!(CivilDate::new(1900, 2, 29).is_err());
    assert!(CivilDate::new(2000, 2, 29).is_ok());
    let born = CivilDate::new(2008, 11, 27).unwrap();
    assert_eq!(born.age_on(CivilDate::new(2026, 11, 26).unwrap()), 17);
    assert_eq!(born.age_on(CivilDate::new(2026, 11, 27).unwrap()), 18);
    assert_eq!(
        CivilDate::from_unix_seconds(1_764_115_200).unwrap().to_string(),
        "2025-11-26"
    );
    for bad in ["", "2026-13-01", "20260230", "2026/01/01", "２０２６0101"] {
        assert!(bad.parse::<CivilDate>().is_err(), "{bad}");
    }
}

#[test]
fn auth_modes_parse_like_operators_write_them() {
    assert_eq!(
        "0x06".parse::<AuthMode>().unwrap(),
        AuthMode::QR.with(AuthMode::FACE)
    );
    assert_eq!(
        "0C".parse::<AuthMode>().unwrap(),
        AuthMode::QR.with(AuthMode::PIN)
    );
    assert_eq!("qr+face".parse::<AuthMode>().unwrap().to_string(), "0x06");
    assert_eq!("0x42".parse::<AuthMode>().unwrap().names(), "face+two-items");
    assert_eq!(AuthMode::from_bits(0x03).unwrap().names(), "card+face");
    assert_eq!(AuthMode::parse_list("0x06, 0x0C").unwrap().len(), 2);
    for bad in [
        "",
        "0x",
        "0x00",
        "0x20",
        "0x80",
        "0xFF",
        "0x106",
        "qr+retina",
        "zz",
    ] {
        let e = bad.parse::<AuthMode>().unwrap_err();
        assert_eq!(e.code, ResultCode::ModeInvalid, "{bad}");
    }
    let m = AuthMode::from_bits(0x0E).unwrap();
    assert!(m.contains(AuthMode::PIN) && !m.contains(AuthMode::CARD));
    assert_eq!(m.factors().count(), 3);
}

#[test]
fn result_code_table_is_consistent() {
    let mut nums = HashSet::new();
    let mut names = HashSet::new();
    for &c in ResultCode::ALL {
        assert!(nums.insert(c.code()), "duplicate number {c}");
        assert!(names.insert(c.name()), "duplicate name {c}");
        assert_eq!(ResultCode::from_code(c.code()), Some(c));
        assert_eq!(ResultCode::from_name(c.name()), Some(c));
        assert!(!c.message_en().is_empty() && !c.message_zh().is_empty());
        assert!((200..600).contains(&c.http_status()));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ResultCode>(&json).unwrap(), c);
    }
    assert!(ResultCode::Pass.is_pass());
    assert_eq!(ResultCode::from_code(7), None);
    // The codes the platform issue names are all present.
    for n in [
        "pass",
        "face_mismatch",
        "liveness_failed",
        "qr_expired",
        "qr_replayed",
        "qr_malformed",
        "credential_revoked",
        "credential_superseded",
        "credential_suspended",
        "pin_wrong",
        "pin_locked",
        "rp_unknown",
        "rp_signature_invalid",
        "mode_not_allowed",
        "registry_record_not_found",
        "four_items_mismatch",
        "card_data_invalid",
        "internal_error",
    ] {
        assert!(ResultCode::from_name(n).is_some(), "{n}");
    }
}
