//! Authentication modes: bit flags as in the CTID scheme.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ProtoError, ResultCode};

/// A combination of authentication factors the relying party asks for.
/// Never empty; only the bits below may be set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthMode(u8);

impl AuthMode {
    /// The ID card's chip, read at the terminal.
    pub const CARD: Self = Self(0x01);
    /// A live face compared with the registry photo.
    pub const FACE: Self = Self(0x02);
    /// The wallet's credential QR code.
    pub const QR: Self = Self(0x04);
    /// The 8-digit credential PIN.
    pub const PIN: Self = Self(0x08);
    /// Four items: name, ID number, card validity start and end.
    pub const FOUR_ITEMS: Self = Self(0x10);
    /// Two items: name and ID number.
    pub const TWO_ITEMS: Self = Self(0x40);

    /// Every defined bit.
    pub const ALL_BITS: u8 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x40;

    /// Names, in bit order, as used in text forms.
    const NAMES: [(Self, &'static str); 6] = [
        (Self::CARD, "card"),
        (Self::FACE, "face"),
        (Self::QR, "qr"),
        (Self::PIN, "pin"),
        (Self::FOUR_ITEMS, "four-items"),
        (Self::TWO_ITEMS, "two-items"),
    ];

    /// From raw bits; unknown bits or zero are refused.
    pub fn from_bits(bits: u8) -> Result<Self, ProtoError> {
        if bits == 0 || bits & !Self::ALL_BITS != 0 {
            return Err(ProtoError::new(
                ResultCode::ModeInvalid,
                "unknown or empty auth mode bits",
            ));
        }
        Ok(Self(bits))
    }

    /// The raw bits.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every factor of `other` is part of `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two modes.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Each single factor in this mode, in bit order.
    pub fn factors(self) -> impl Iterator<Item = Self> {
        Self::NAMES
            .into_iter()
            .map(|(m, _)| m)
            .filter(move |m| self.contains(*m))
    }

    /// `qr+face` style name.
    #[must_use]
    pub fn names(self) -> String {
        Self::NAMES
            .iter()
            .filter(|(m, _)| self.contains(*m))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Parses a comma-separated list of modes, e.g. `0x06,0x0C`.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, ProtoError> {
        s.split(',').map(|p| p.trim().parse()).collect()
    }
}

impl fmt::Display for AuthMode {
    /// Hex form, `0x06`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

impl fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthMode({self} {})", self.names())
    }
}

impl FromStr for AuthMode {
    type Err = ProtoError;

    /// Accepts `0x06`, `06` (hex) or names joined by `+`: `qr+face`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            ProtoError::new(
                ResultCode::ModeInvalid,
                "auth mode is not hex bits or known names",
            )
        };
        let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
        let looks_hex = hex.is_some() || (s.len() <= 2 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if looks_hex {
            let digits = hex.unwrap_or(s);
            if digits.is_empty() || digits.len() > 2 {
                return Err(bad());
            }
            let bits = u8::from_str_radix(digits, 16).map_err(|_| bad())?;
            return Self::from_bits(bits);
        }
        let mut bits = 0u8;
        for name in s.split('+') {
            let name = name.trim().to_ascii_lowercase();
            let (m, _) = Self::NAMES.iter().find(|(_, n)| *n == name).ok_or_else(bad)?;
            bits |= m.0;
        }
        Self::from_bits(bits)
    }
}

impl Serialize for AuthMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AuthMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
