//! SM2 signature verification in variable time, for public inputs only.
//!
//! The `sm2` crate verifies with a constant-time linear combination in
//! which even the generator is a variable point. A verification handles
//! only public values (key, message, signature), so it may branch on them:
//! here `[s]G` uses a generator table of 8-bit digits (built once, about
//! twice as fast as the crate's radix-16 one) and `[t]P` either a
//! variable-time wNAF multiplication or, for a long-lived key that
//! verifies many signatures (a relying party's key, the card authority),
//! a fixed-base table built once for that key ([`FixedBaseTable`]). Signing
//! and decryption, which use secrets, stay on the crate's constant-time
//! code. Tests check this path against the crate's verifier on valid and
//! tampered signatures.

use sm2::elliptic_curve::Group;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::group::Curve as _;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use sm3::Digest;

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

/// Signed digits of a 256-bit scalar in windows of 4 bits or more.
const MAX_DIGITS: usize = 65;

/// Multiples of one point laid out for fixed-base multiplication with
/// signed `window`-bit digits, in affine form so that each step is a mixed
/// addition. `teeth` consecutive digits share one table: their sums are
/// kept apart and joined with `window` doublings each at the end, which
/// trades a few doublings for a table `teeth` times smaller. Table `i`
/// holds `[1..=2^(window-1)]·2^(window·teeth·i)·P`.
pub struct FixedBaseTable {
    window: u32,
    teeth: usize,
    entries: usize,
    points: Box<[AffinePoint]>,
}

impl core::fmt::Debug for FixedBaseTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "FixedBaseTable({}-bit digits, {} per table)",
            self.window, self.teeth
        )
    }
}

/// Digits of `window` bits needed for a 256-bit scalar and its carry.
const fn digit_count(window: u32) -> usize {
    257_usize.div_ceil(window as usize)
}

impl FixedBaseTable {
    /// A long-lived verifying key's table: 6-bit digits, two per table
    /// (704 points, about 50 KiB): 43 mixed additions and 6 doublings a
    /// multiplication, against 65 additions and 4 doublings with the
    /// crate's radix-16 tables. Building it costs a few verifications.
    pub(crate) fn new(point: ProjectivePoint) -> Self {
        Self::with_window(point, 6, 2)
    }

    /// `window` in `4..=8`, `teeth` in `1..=4`.
    fn with_window(point: ProjectivePoint, window: u32, teeth: usize) -> Self {
        let window = window.clamp(4, 8);
        let teeth = teeth.clamp(1, 4);
        let entries = 1usize << (window - 1);
        let tables = digit_count(window).div_ceil(teeth);
        let mut projective = Vec::with_capacity(tables * entries);
        let mut base = point;
        for _ in 0..tables {
            let mut multiple = base;
            projective.push(multiple);
            for _ in 1..entries {
                multiple += base;
                projective.push(multiple);
            }
            for _ in 0..window as usize * teeth {
                base = base.double();
            }
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Self {
            window,
            teeth,
            entries,
            points: points.into_boxed_slice(),
        }
    }

    /// `[k]P` in variable time.
    fn mul_vartime(&self, k: &Scalar) -> ProjectivePoint {
        let (digits, count) = signed_digits(k, self.window);
        let mut sums = [ProjectivePoint::IDENTITY; 4];
        for (i, &d) in digits.iter().take(count).enumerate() {
            if d == 0 {
                continue;
            }
            let index = (i / self.teeth) * self.entries + usize::from(d.unsigned_abs()) - 1;
            if let (Some(point), Some(sum)) = (self.points.get(index), sums.get_mut(i % self.teeth)) {
                *sum += if d < 0 { -*point } else { *point };
            }
        }
        // Σ sums[t]·2^(window·t), highest first.
        let mut result = ProjectivePoint::IDENTITY;
        for sum in sums.iter().take(self.teeth).rev() {
            for _ in 0..self.window {
                result = result.double();
            }
            result += sum;
        }
        result
    }
}

/// The generator's table: 8-bit digits, one per table (4,224 points, about
/// 300 KiB, built once): 33 mixed additions for `[s]G`, against 65 with the
/// crate's table.
fn generator_table() -> &'static FixedBaseTable {
    static TABLE: std::sync::OnceLock<FixedBaseTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| FixedBaseTable::with_window(ProjectivePoint::GENERATOR, 8, 1))
}

/// Digits `a_j` in `[-2^(w-1), 2^(w-1))` (the last one absorbs the carry
/// and is below `2^(w-1)` too) with `k = Σ a_j·2^(w·j)`, and their count.
fn signed_digits(k: &Scalar, window: u32) -> ([i16; MAX_DIGITS], usize) {
    let window = window.clamp(4, 8);
    let repr = k.to_repr();
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(repr.rchunks(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(bytes);
    }
    let bits = |pos: usize| -> i16 {
        let word = pos / 64;
        let shift = pos % 64;
        let mut v = limbs.get(word).map_or(0, |l| l >> shift);
        if shift + window as usize > 64
            && let Some(next) = limbs.get(word + 1)
        {
            v |= next << (64 - shift);
        }
        // Below 2^8: the cast cannot wrap.
        (v & ((1u64 << window) - 1)) as i16
    };
    let count = digit_count(window).min(MAX_DIGITS);
    let half = 1i16 << (window - 1);
    let mut digits = [0i16; MAX_DIGITS];
    let mut carry = 0i16;
    for (j, d) in digits.iter_mut().take(count).enumerate() {
        let v = bits(j * window as usize) + carry;
        if j + 1 < count && v >= half {
            *d = v - (half << 1);
            carry = 1;
        } else {
            *d = v;
            carry = 0;
        }
    }
    (digits, count)
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
    let sg = generator_table().mul_vartime(s);
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

    fn edge_scalars() -> Vec<Scalar> {
        let mut all_ones = [0xffu8; 32];
        all_ones[0] = 0x7f;
        vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(0x8888_8888u64),
            Scalar::from(0x7f7f_7f7f_7f7f_7f7fu64),
            -Scalar::from(77u64),
            Scalar::from_repr(all_ones.into()).unwrap(),
            Scalar::from_repr([0x80u8; 32].into()).unwrap(),
        ]
    }

    #[test]
    fn recoding_sums_back_to_the_scalar() {
        for window in 4..=8 {
            let radix = Scalar::from(1u64 << window);
            for k in edge_scalars() {
                let (digits, count) = signed_digits(&k, window);
                let mut sum = Scalar::ZERO;
                for d in digits.iter().take(count).rev() {
                    assert!(i32::from(d.unsigned_abs()) <= 1 << (window - 1));
                    sum *= radix;
                    let v = Scalar::from(u64::from(d.unsigned_abs()));
                    sum = if *d < 0 { sum - v } else { sum + v };
                }
                assert_eq!(sum, k, "window {window}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Random scalars (reduced from any 32 bytes) through every table
        /// shape the code builds, against the constant-time multiplication.
        #[test]
        fn table_multiplication_matches_for_random_scalars(bytes in proptest::array::uniform32(proptest::prelude::any::<u8>())) {
            let k = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(bytes));
            let p = ProjectivePoint::GENERATOR * Scalar::from(987_654_321u64);
            proptest::prop_assert_eq!(FixedBaseTable::new(p).mul_vartime(&k), p * k);
            proptest::prop_assert_eq!(generator_table().mul_vartime(&k), ProjectivePoint::GENERATOR * k);
        }
    }

    #[test]
    fn table_multiplication_matches_the_plain_one() {
        let p = ProjectivePoint::GENERATOR * Scalar::from(123_456_789u64);
        let tables = [
            FixedBaseTable::new(p),
            FixedBaseTable::with_window(p, 4, 2),
            FixedBaseTable::with_window(p, 5, 3),
            FixedBaseTable::with_window(p, 8, 1),
        ];
        for k in edge_scalars() {
            for table in &tables {
                assert_eq!(table.mul_vartime(&k), p * k, "{table:?}");
            }
            assert_eq!(p.mul_vartime(&k), p * k);
            assert_eq!(generator_table().mul_vartime(&k), ProjectivePoint::GENERATOR * k);
        }
    }
}
