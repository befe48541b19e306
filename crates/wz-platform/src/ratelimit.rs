//! Per-RP token buckets. Each platform node limits on its own, so a
//! cluster of N nodes admits up to N times the registered rate; the
//! registration's rate is a per-node ceiling.

use std::collections::HashMap;
use std::sync::Mutex;

/// Token buckets keyed by RP id, refilled at the RP's rate, with one
/// second of burst.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, u64)>>,
}

impl RateLimiter {
    /// Takes one token for `rp_id` at `now_ms`; false if none is left.
    pub fn allow(&self, rp_id: &str, rate_per_s: u32, now_ms: u64) -> bool {
        if rate_per_s == 0 {
            return false;
        }
        let cap = f64::from(rate_per_s);
        let Ok(mut map) = self.buckets.lock() else {
            return false;
        };
        let (tokens, last) = map.entry(rp_id.to_owned()).or_insert((cap, now_ms));
        let elapsed = now_ms.saturating_sub(*last) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * cap).min(cap);
        *last = now_ms.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
