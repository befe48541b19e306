//! Chinese resident identity numbers (GB 11643-1999): 6-digit region code,
//! 8-digit birth date, 3-digit sequence (odd for men, even for women) and an
//! ISO 7064 MOD 11-2 check character.
//!
//! An `IdNumber` is personal data: its `Debug` is redacted and there is no
//! `Display`; use [`IdNumber::as_str`] where the full number is needed and
//! [`IdNumber::masked`] where it is shown.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

use crate::CivilDate;

/// Weights of the 17 body digits (2^(18-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK: [u8; 11] = *b"10X98765432";

/// Provincial-level codes in use (GB/T 2260 first two digits), including
/// Taiwan (71), Hong Kong (81) and Macao (82) as issued to residence permits.
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
    61, 62, 63, 64, 65, 71, 81, 82,
];

/// What is wrong with an ID number. Messages never echo the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("ID number must have 18 characters")]
    Length,
    #[error("ID number character {0} must be a digit")]
    NotDigit(usize),
    #[error("ID number check character must be a digit or X")]
    CheckCharacter,
    #[error("ID number region code is not a known province")]
    Region,
    #[error("ID number birth date is not a valid date")]
    BirthDate,
    #[error("ID number birth date is in the future")]
    BirthInFuture,
    #[error("ID number sequence code 000 is not issued")]
    Sequence,
    #[error("ID number check digit does not match")]
    CheckDigit,
}

/// Sex as coded in the ID number's sequence digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

/// A validated 18-character resident ID number (upper-case `X`).
#[derive(Clone, PartialEq, Eq, Hash, Zeroize)]
pub struct IdNumber([u8; 18]);

/// The check character for 17 body digits.
fn check_char(body: &[u8; 17]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    // `sum % 11` is in 0..11 by construction.
    CHECK.get((sum % 11) as usize).copied().unwrap_or(b'?')
}

impl IdNumber {
    /// Parses and fully validates an ID number. Lower-case `x` is accepted
    /// and stored upper-case. Leading/trailing spaces are not accepted.
    pub fn parse(s: &str) -> Result<Self, IdNumberError> {
        let bytes: [u8; 18] = s.as_bytes().try_into().map_err(|_| IdNumberError::Length)?;
        let mut body = [0u8; 17];
        for (i, (dst, src)) in body.iter_mut().zip(bytes.iter()).enumerate() {
            if !src.is_ascii_digit() {
                return Err(IdNumberError::NotDigit(i + 1));
            }
            *dst = *src;
        }
        let last = bytes[17].to_ascii_uppercase();
        if !(last.is_ascii_digit() || last == b'X') {
            return Err(IdNumberError::CheckCharacter);
        }
        let province = (body[0] - b'0') * 10 + (body[1] - b'0');
        if !PROVINCES.contains(&province) {
            return Err(IdNumberError::Region);
        }
        let birth = std::str::from_utf8(&body[6..14]).map_err(|_| IdNumberError::BirthDate)?;
        CivilDate::parse_compact(birth).map_err(|_| IdNumberError::BirthDate)?;
        if &body[14..17] == b"000" {
            return Err(IdNumberError::Sequence);
        }
        if check_char(&body) != last {
            return Err(IdNumberError::CheckDigit);
        }
        let mut out = bytes;
        out[17] = last;
        Ok(Self(out))
    }

    /// Parses, and also refuses a birth date after `today`.
    pub fn parse_on(s: &str, today: CivilDate) -> Result<Self, IdNumberError> {
        let id = Self::parse(s)?;
        if id.birth_date() > today {
            return Err(IdNumberError::BirthInFuture);
        }
        Ok(id)
    }

    /// Builds a valid number from its parts, computing the check character
    /// (for synthetic test and demo registries). `region` is 6 digits and
    /// `sequence` is 1..=999.
    pub fn from_parts(region: u32, birth: CivilDate, sequence: u16) -> Result<Self, IdNumberError> {
        if !(100_000..=999_999).contains(&region) {
            return Err(IdNumberError::Region);
        }
        if !(1..=999).contains(&sequence) {
            return Err(IdNumberError::Sequence);
        }
        let body = format!("{region:06}{}{sequence:03}", birth.to_compact());
        let body: [u8; 17] = body.as_bytes().try_into().map_err(|_| IdNumberError::Length)?;
        let check = check_char(&body);
        let mut all = [0u8; 18];
        all[..17].copy_from_slice(&body);
        all[17] = check;
        Self::parse(std::str::from_utf8(&all).map_err(|_| IdNumberError::Length)?)
    }

    /// The full number. Personal data: do not log.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and 'X' are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The 6-digit administrative region code.
    #[must_use]
    pub fn region_code(&self) -> u32 {
        self.as_str().get(0..6).and_then(|r| r.parse().ok()).unwrap_or(0)
    }

    /// Birth date (validated at parse time).
    #[must_use]
    pub fn birth_date(&self) -> CivilDate {
        self.as_str()
            .get(6..14)
            .and_then(|d| CivilDate::parse_compact(d).ok())
            .unwrap_or_else(|| unreachable!("validated at parse"))
    }

    /// Sex from the parity of the 17th digit.
    #[must_use]
    pub fn sex(&self) -> Sex {
        if (self.0[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Masked for display: first and last character only,
    /// `1****************X`.
    #[must_use]
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            char::from(self.0[0]),
            "*".repeat(16),
            char::from(self.0[17])
        )
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdNumber(<redacted>)")
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        IdNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl core::str::FromStr for IdNumber {
    type Err = IdNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
