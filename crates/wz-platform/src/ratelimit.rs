//! Token buckets kept in memory: per RP (its registered rate) and per
//! client address (challenges, online enrolment). Each platform node limits
//! on its own, so a cluster of N nodes admits up to N times these rates;
//! they are per-node ceilings. Limits that must hold across nodes (tries per
//! ID number) live in the database instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// One bucket: tokens left, last refill (ms), size, refill per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
    capacity: f64,
    per_s: f64,
}

/// Buckets stored beyond this many are pruned of full ones on the next
/// take, so a flood of client addresses cannot grow memory without bound.
const PRUNE_ABOVE: usize = 100_000;

/// Token buckets keyed by a string (RP id, or a purpose and client).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token for `rp_id` at `now_ms`, refilled at the RP's rate
    /// with one second of burst; false if none is left.
    pub fn allow(&self, rp_id: &str, rate_per_s: u32, now_ms: u64) -> bool {
        let rate = f64::from(rate_per_s);
        self.take(rp_id, rate, rate, now_ms)
    }

    /// Takes one token for `key`: `per_min` a minute, all of them as a burst.
    pub fn allow_per_minute(&self, key: &str, per_min: u32, now_ms: u64) -> bool {
        let cap = f64::from(per_min);
        self.take(key, cap, cap / 60.0, now_ms)
    }

    fn take(&self, key: &str, capacity: f64, per_s: f64, now_ms: u64) -> bool {
        if capacity < 1.0 {
            return false;
        }
        let Ok(mut map) = self.buckets.lock() else {
            return false;
        };
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, b| refilled(b, now_ms) < b.capacity);
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            last_ms: now_ms,
            capacity,
            per_s,
        });
        // A changed registration takes effect at once.
        b.capacity = capacity;
        b.per_s = per_s;
        b.tokens = refilled(b, now_ms);
        b.last_ms = now_ms.max(b.last_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many buckets are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |m| m.len())
    }
}

fn refilled(b: &Bucket, now_ms: u64) -> f64 {
    let elapsed = now_ms.saturating_sub(b.last_ms) as f64 / 1000.0;
    (b.tokens + elapsed * b.per_s).min(b.capacity)
}

/// The key a client address is limited under: the address itself for
/// IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64).
#[must_use]
pub fn client_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buckets_are_pruned_when_many() {
        let l = RateLimiter::default();
        for i in 0..=PRUNE_ABOVE {
            assert!(l.allow_per_minute(&i.to_string(), 60, 0));
        }
        // A minute on, every bucket is full again: the next take prunes them.
        assert!(l.allow_per_minute("next", 60, 60_000));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn per_minute_buckets_refill_slowly() {
        let l = RateLimiter::default();
        assert!((0..3).all(|_| l.allow_per_minute("c", 3, 0)));
        assert!(!l.allow_per_minute("c", 3, 0));
        assert!(!l.allow_per_minute("c", 3, 19_000), "a token takes 20 s");
        assert!(l.allow_per_minute("c", 3, 20_001));
        assert!(l.allow_per_minute("other", 3, 20_001), "keys are separate");
        assert!(!l.allow_per_minute("zero", 0, 0));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(client_key("::ffff:10.0.0.1".parse().unwrap_or(a)), "10.0.0.1");
    }
}
