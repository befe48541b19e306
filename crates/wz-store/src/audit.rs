//! The operator audit log: append-only and hash-chained with SM3.
//!
//! `hash_n = SM3(prev_hash | seq(8) | time(8) | len|actor | len|action | len|detail)`
//! with `prev_hash` of the first entry all zero. Changing or deleting any
//! entry breaks the chain at that point. Cutting entries off the end leaves
//! a valid but shorter chain: operators record the head (`seq`, `hash`)
//! elsewhere and compare it (`wz admin audit verify` prints it).

use wz_crypto::Sm3Hasher;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// What an audited change records: written by the store in the change's own
/// transaction. `detail` must never contain personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    pub actor: String,
    pub action: String,
    pub detail: String,
}

impl AuditNote {
    /// A note by `actor` (operator, platform, citizen, …) about `action`.
    pub fn new(actor: impl Into<String>, action: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            detail: detail.into(),
        }
    }
}

/// One audit entry. `detail` must never contain personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: u64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The hash of an entry's content chained to `prev_hash`.
#[must_use]
pub fn entry_hash(
    prev_hash: &[u8; 32],
    seq: u64,
    time: u64,
    actor: &str,
    action: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = Sm3Hasher::new();
    h.update(prev_hash);
    h.update(&seq.to_be_bytes());
    h.update(&time.to_be_bytes());
    for field in [actor, action, detail] {
        h.update(&(field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize()
}

/// Result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Last entry's seq and hash (record it to detect truncation later).
    pub head: Option<(u64, [u8; 32])>,
    /// The first entry where the chain breaks, with why.
    pub first_break: Option<(u64, &'static str)>,
}

impl AuditReport {
    /// Whether the chain is intact.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Walks entries in seq order and finds the first break.
#[must_use]
pub fn check_chain(entries: &[AuditEntry]) -> AuditReport {
    let mut prev = GENESIS_HASH;
    let mut first_break = None;
    for (expected_seq, e) in (1u64..).zip(entries) {
        let fault = if e.seq != expected_seq {
            Some("entry missing (sequence gap)")
        } else if e.prev_hash != prev {
            Some("previous-hash link broken")
        } else if entry_hash(&e.prev_hash, e.seq, e.time, &e.actor, &e.action, &e.detail) != e.hash {
            Some("entry content changed")
        } else {
            None
        };
        if let Some(f) = fault {
            first_break = Some((e.seq, f));
            break;
        }
        prev = e.hash;
    }
    AuditReport {
        entries: entries.len() as u64,
        head: entries.last().map(|e| (e.seq, e.hash)),
        first_break,
    }
}
