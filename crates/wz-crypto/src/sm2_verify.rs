//! SM2 signature verification in variable time, for public inputs only.
//!
//! The `sm2` crate verifies with a constant-time linear combination in
//! which even the generator is a variable point. A verification handles
//! only public values (key, message, signature), so it may branch on them:
//! here `[s]G` uses the crate's precomputed generator table and `[t]P`
//! either a variable-time wNAF multiplication or, for a long-lived key that
//! verifies many signatures (a relying party's key, the card authority),
//! a fixed-base table built once for that key ([`FixedBaseTable`]). Signing
//! and decryption, which use secrets, stay on the crate's constant-time
//! code. Tests check this path against the crate's verifier on valid and
//! tampered signatures.

use primeorder::{LookupTable, MulBackend, PrimeCurveParams};
use sm2::elliptic_curve::Group;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::{FieldBytes, ProjectivePoint, Scalar, Sm2};
use sm3::Digest;

/// Tables in a fixed-base table: one per byte of the scalar, plus one for
/// the carry of the signed-digit recoding.
const TABLES: usize = 33;
/// Signed radix-16 digits of a 256-bit scalar (the top one holds the carry).
const DIGITS: usize = 2 * TABLES - 1;

/// SM2's curve coefficients and generator, big-endian, as Z_A hashes them
/// (GB/T 32918.5 recommended parameters).
const CURVE_A: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc,
];
const CURVE_B: [u8; 32] = [
    0x28, 0xe9, 0xfa, 0x9e, 0x9d, 0x9f, 0x5e, 0x34, 0x4d, 0x5a, 0x9e, 0x4b, 0xcf, 0x65, 0x09, 0xa7, 0xf3,
    0x97, 0x89, 0xf5, 0x15, 0xab, 0x8f, 0x92, 0xdd, 0xbc, 0xbd, 0x41, 0x4d, 0x94, 0x0e, 0x93,
];
const GENERATOR_X: [u8; 32] = [
    0x32, 0xc4, 0xae, 0x2c, 0x1f, 0x19, 0x81, 0x19, 0x5f, 0x99, 0x04, 0x46, 0x6a, 0x39, 0xc9, 0x94, 0x8f,
    0xe3, 0x0b, 0xbf, 0xf2, 0x66, 0x0b, 0xe1, 0x71, 0x5a, 0x45, 0x89, 0x33, 0x4c, 0x74, 0xc7,
];
const GENERATOR_Y: [u8; 32] = [
    0xbc, 0x37, 0x36, 0xa2, 0xf4, 0xf6, 0x77, 0x9c, 0x59, 0xbd, 0xce, 0xe3, 0x6b, 0x69, 0x21, 0x53, 0xd0,
    0xa9, 0x87, 0x7c, 0xc6, 0x2a, 0x47, 0x40, 0x02, 0xdf, 0x32, 0xe5, 0x21, 0x39, 0xf0, 0xa0,
];

/// Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) for an uncompressed
/// SEC1 point `04 | x | y`.
pub(crate) fn identity_hash(user_id: &str, sec1_uncompressed: &[u8; 65]) -> Option<[u8; 32]> {
    let bits = u16::try_from(user_id.len().checked_mul(8)?).ok()?;
    let mut h = sm3::Sm3::new();
    h.update(bits.to_be_bytes());
    h.update(user_id.as_bytes());
    h.update(CURVE_A);
    h.update(CURVE_B);
    h.update(GENERATOR_X);
    h.update(GENERATOR_Y);
    h.update(sec1_uncompressed.get(1..)?);
    Some(h.finalize().into())
}

/// Multiples of one point laid out for fixed-base multiplication: table
/// `i` holds `[1..=8]·256^i·P`, as the crate's generator table does. About
/// 25 KiB; building it costs about as much as one scalar multiplication.
pub struct FixedBaseTable {
    tables: Box<[LookupTable<ProjectivePoint>; TABLES]>,
}

impl core::fmt::Debug for FixedBaseTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FixedBaseTable")
    }
}

impl FixedBaseTable {
    pub(crate) fn new(point: ProjectivePoint) -> Self {
        let mut tables = Box::new([LookupTable::<ProjectivePoint>::default(); TABLES]);
        let mut base = point;
        for table in tables.iter_mut() {
            *table = LookupTable::new(base);
            for _ in 0..8 {
                base = base.double();
            }
        }
        Self { tables }
    }

    /// `[k]P` in variable time: 65 table additions and 4 doublings.
    fn mul_vartime(&self, k: &Scalar) -> ProjectivePoint {
        let digits = signed_radix16(k);
        let mut even = ProjectivePoint::IDENTITY;
        let mut odd = ProjectivePoint::IDENTITY;
        for (i, table) in self.tables.iter().enumerate() {
            let lo = digits.get(2 * i).copied().unwrap_or(0);
            let hi = digits.get(2 * i + 1).copied().unwrap_or(0);
            if lo != 0 {
                even += table.select_vartime(lo);
            }
            if hi != 0 {
                odd += table.select_vartime(hi);
            }
        }
        for _ in 0..4 {
            odd = odd.double();
        }
        even + odd
    }
}

/// Digits `a_j` in `[-8, 8)` (the last one absorbs the carry) with
/// `k = Σ a_j·16^j`.
fn signed_radix16(k: &Scalar) -> [i8; DIGITS] {
    let repr = k.to_repr();
    let mut digits = [0i8; DIGITS];
    for (i, byte) in repr.iter().rev().enumerate() {
        if let Some(pair) = digits.get_mut(2 * i..2 * i + 2) {
            // Nibbles are below 16: the casts cannot wrap.
            pair.copy_from_slice(&[(byte & 0x0f) as i8, (byte >> 4) as i8]);
        }
    }
    let mut carry = 0i8;
    for d in &mut digits {
        let v = *d + carry;
        carry = (v + 8) >> 4;
        *d = v - (carry << 4);
    }
    digits
}

/// GB/T 32918.2 verification steps B1–B7 over `e = SM3(Z_A ‖ msg)`.
/// `r` and `s` are already in `[1, n-1]` (the signature type checks that).
pub(crate) fn verify(
    za: &[u8; 32],
    point: &ProjectivePoint,
    table: Option<&FixedBaseTable>,
    msg: &[u8],
    r: &Scalar,
    s: &Scalar,
) -> bool {
    let digest: [u8; 32] = sm3::Sm3::new_with_prefix(za).chain_update(msg).finalize().into();
    let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
    let t = *r + *s;
    if bool::from(t.is_zero()) {
        return false;
    }
    let sg = <<Sm2 as PrimeCurveParams>::Backend as MulBackend<Sm2>>::mul_by_generator_vartime(s);
    let tp = match table {
        Some(table) => table.mul_vartime(&t),
        None => point.mul_vartime(&t),
    };
    let sum = sg + tp;
    if bool::from(sum.is_identity()) {
        return false;
    }
    let x = sum.to_affine().x();
    *r == e + <Scalar as Reduce<FieldBytes>>::reduce(&x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recoding_sums_back_to_the_scalar() {
        for k in [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(0x8888_8888u64),
        ] {
            let digits = signed_radix16(&k);
            let sixteen = Scalar::from(16u64);
            let mut sum = Scalar::ZERO;
            for d in digits.iter().rev() {
                sum *= sixteen;
                let v = Scalar::from(u64::from(d.unsigned_abs()));
                sum = if *d < 0 { sum - v } else { sum + v };
            }
            assert_eq!(sum, k);
        }
    }

    #[test]
    fn table_multiplication_matches_the_plain_one() {
        let p = ProjectivePoint::GENERATOR * Scalar::from(123_456_789u64);
        let table = FixedBaseTable::new(p);
        for k in [
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(0xdead_beefu64),
            -Scalar::from(77u64),
        ] {
            assert_eq!(table.mul_vartime(&k), p * k);
            assert_eq!(p.mul_vartime(&k), p * k);
        }
    }
}
