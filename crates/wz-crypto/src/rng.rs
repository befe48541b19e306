//! The one place randomness comes from: the operating system.

use crate::{CryptoError, Result};

/// Fills `buf` from the OS random source.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CryptoError::Rng)
}

/// `N` fresh random bytes from the OS.
pub fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}
