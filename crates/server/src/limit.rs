//! Rate limits on failures: failed authentication and refused signatures,
//! per caller and per client address.
//!
//! Only failures count: a caller who authenticates and signs correctly is
//! never slowed. Each key (an address, a presented token's hash, a caller)
//! holds a token bucket of `burst` failures refilled at `per_minute`; when
//! it is empty the key is refused with 429 and `Retry-After` until a token
//! has grown back, before any work is done for it. The table is bounded:
//! when full, the stalest keys are dropped (an attacker rotating keys gains
//! nothing over the per-address bucket, which the address cannot rotate
//! cheaply).
//!
//! Written here rather than with `governor`: governor counts every request
//! and cannot ask "is this key blocked?" without spending a cell, while
//! this needs to check before the work and to charge only what failed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures a key may have in a burst, and how fast it earns
/// them back.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

impl Rate {
    fn refill(&self) -> f64 {
        f64::from(self.per_minute.max(1)) / 60.0
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Failure buckets keyed by caller or address.
pub struct Limiter {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            max_keys: 100_000,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        let grown = now.saturating_duration_since(b.at).as_secs_f64() * self.rate.refill();
        (b.tokens + grown).min(f64::from(self.rate.burst))
    }

    /// `Some(wait)` when any of `keys` has no failure left: the caller
    /// must wait that long.
    pub fn blocked(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| buckets.get(k))
            .filter_map(|b| {
                let level = self.level(b, now);
                (level < 1.0).then(|| Duration::from_secs_f64((1.0 - level) / self.rate.refill()))
            })
            .max()
    }

    /// Charge one failure to each of `keys`.
    pub fn fail(&self, keys: &[String], now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() + keys.len() > self.max_keys {
            // Drop the keys that have earned back their whole burst, then,
            // if that is not enough, the stalest half.
            let full = f64::from(self.rate.burst);
            buckets.retain(|_, b| self.level(b, now) < full);
            if buckets.len() + keys.len() > self.max_keys {
                let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
                ages.sort();
                if let Some(cut) = ages.get(ages.len() / 2).copied() {
                    buckets.retain(|_, b| b.at > cut);
                }
            }
        }
        for k in keys {
            let level = match buckets.get(k) {
                Some(b) => self.level(b, now),
                None => f64::from(self.rate.burst),
            };
            buckets.insert(
                k.clone(),
                Bucket {
                    tokens: (level - 1.0).max(0.0),
                    at: now,
                },
            );
        }
    }
}

/// Seconds for a `Retry-After` header: whole seconds, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_refusal_until_a_token_grows_back() {
        let l = Limiter::new(Rate {
            burst: 3,
            per_minute: 60,
        });
        let t0 = Instant::now();
        let keys = vec!["addr:127.0.0.1".to_string()];
        for _ in 0..3 {
            assert!(l.blocked(&keys, t0).is_none());
            l.fail(&keys, t0);
        }
        let wait = l.blocked(&keys, t0).expect("blocked after the burst");
        assert_eq!(retry_after_secs(wait), 1);
        assert!(l.blocked(&keys, t0 + Duration::from_millis(1001)).is_none());
        // Another key is not affected.
        assert!(l.blocked(&["addr:10.0.0.1".to_string()], t0).is_none());
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut l = Limiter::new(Rate {
            burst: 1,
            per_minute: 1,
        });
        l.max_keys = 10;
        let t0 = Instant::now();
        for i in 0..100u32 {
            l.fail(&[format!("k{i}")], t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(l.buckets.lock().unwrap().len() <= 10);
        // The newest key is still remembered.
        assert!(l.blocked(&["k99".to_string()], t0).is_some());
    }
}
