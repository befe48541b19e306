//! A calendar date without time or zone, for birth dates and card validity.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proleptic Gregorian date. Always valid once constructed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CivilDate {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid calendar date (expected YYYY-MM-DD or YYYYMMDD)")]
pub struct DateError;

const fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

const fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl CivilDate {
    /// A date, if it exists in the calendar (years 1800..=9999).
    pub const fn new(year: u16, month: u8, day: u8) -> Result<Self, DateError> {
        if year < 1800
            || year > 9999
            || month < 1
            || month > 12
            || day < 1
            || day > days_in_month(year, month)
        {
            return Err(DateError);
        }
        Ok(Self { year, month, day })
    }

    /// Year.
    #[must_use]
    pub const fn year(self) -> u16 {
        self.year
    }
    /// Month, 1-12.
    #[must_use]
    pub const fn month(self) -> u8 {
        self.month
    }
    /// Day of month, 1-31.
    #[must_use]
    pub const fn day(self) -> u8 {
        self.day
    }

    /// Parses `YYYYMMDD` (as in ID numbers and card chips).
    pub fn parse_compact(s: &str) -> Result<Self, DateError> {
        let b = s.as_bytes();
        if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
            return Err(DateError);
        }
        let n = |r: core::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u16>().ok()).ok_or(DateError);
        Self::new(
            n(0..4)?,
            u8::try_from(n(4..6)?).map_err(|_| DateError)?,
            u8::try_from(n(6..8)?).map_err(|_| DateError)?,
        )
    }

    /// `YYYYMMDD`.
    #[must_use]
    pub fn to_compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// Days since 1970-01-01 (negative before).
    #[must_use]
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The UTC date of a unix timestamp (seconds).
    pub fn from_unix_seconds(secs: i64) -> Result<Self, DateError> {
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let year = u16::try_from(y).map_err(|_| DateError)?;
        Self::new(
            year,
            u8::try_from(m).map_err(|_| DateError)?,
            u8::try_from(d).map_err(|_| DateError)?,
        )
    }

    /// Full years of age on `today` for someone born on `self`
    /// (0 if `today` is before the birth date).
    #[must_use]
    pub fn age_on(self, today: CivilDate) -> u16 {
        if today < self {
            return 0;
        }
        let mut age = today.year - self.year;
        if (today.month, today.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

impl fmt::Display for CivilDate {
    /// ISO 8601 `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CivilDate({self})")
    }
}

impl FromStr for CivilDate {
    type Err = DateError;
    /// `YYYY-MM-DD` or `YYYYMMDD`.
    fn from_str(s: &str) -> Result<Self, DateError> {
        if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(7) == Some(&b'-') {
            let compact: String = s.chars().filter(|c| *c != '-').collect();
            return Self::parse_compact(&compact);
        }
        Self::parse_compact(s)
    }
}

impl Serialize for CivilDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CivilDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
