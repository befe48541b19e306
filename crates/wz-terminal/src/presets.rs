//! Registrations for the places DESIGN.md names: what each may ask and learn.

use wz_proto::api::Attribute;

/// One scenario: allowed modes, attributes released, default rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub modes: &'static [&'static str],
    pub attributes: &'static [Attribute],
    pub rate_per_s: u32,
}

/// Every preset.
pub const PRESETS: [Preset; 6] = [
    Preset {
        name: "hotel",
        description: "hotel check-in: QR + live face; name and ID number recorded as the law requires",
        modes: &["0x06", "0x42"],
        attributes: &[Attribute::Name, Attribute::IdNumber],
        rate_per_s: 20,
    },
    Preset {
        name: "internet-cafe",
        description: "internet café real-name login: QR only; adult flag and pseudonym, no personal data",
        modes: &["0x04"],
        attributes: &[Attribute::AgeOver18],
        rate_per_s: 20,
    },
    Preset {
        name: "gov-hall",
        description: "government hall: QR + credential PIN (是我在办); name and ID number",
        modes: &["0x0C", "0x06"],
        attributes: &[Attribute::Name, Attribute::IdNumber],
        rate_per_s: 50,
    },
    Preset {
        name: "ticket-machine",
        description: "ticket machine: QR only; name and ID number printed on the ticket",
        modes: &["0x04"],
        attributes: &[Attribute::Name, Attribute::IdNumber],
        rate_per_s: 100,
    },
    Preset {
        name: "event-gate",
        description: "event gate: QR + face against the ticket holder; pseudonym only",
        modes: &["0x06", "0x04"],
        attributes: &[],
        rate_per_s: 200,
    },
    Preset {
        name: "courier",
        description: "courier counter: QR, or two items + face for senders without a phone; name only",
        modes: &["0x04", "0x42"],
        attributes: &[Attribute::Name],
        rate_per_s: 20,
    },
];

/// The preset called `name`.
#[must_use]
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
