//! When to try a failed delivery again.
//!
//! Capped exponential backoff with "equal jitter": after the n-th failure
//! the nominal wait is `min(cap, base × 2^(n-1))`; half of it is always
//! waited and the other half is scaled by the caller's random `jitter`.
//! Keeping half fixed means a retry never comes immediately, and the random
//! half spreads retries of many messages that failed together (the spec's
//! "Deliverability and reliability" section asks for exactly that jitter).
//!
//! The caller supplies the randomness, so [`RetryPolicy::delay`] is a pure
//! function and its tests are exact.

use std::time::Duration;

/// How long to wait between attempts and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Nominal wait after the first failure.
    pub base: Duration,
    /// Upper bound on any wait.
    pub cap: Duration,
    /// Attempts (the first one included) after which delivery is abandoned.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 5 s doubling to at most 1 h, 10 attempts in all: the nominal waits
    /// are 5 s, 10 s, 20 s … 1280 s, about 43 minutes of nominal backoff
    /// in total (equal jitter spends 50–100 % of that).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(60 * 60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt, after `failed_attempts` attempts
    /// have failed (0 is treated as 1).
    ///
    /// `jitter` should be uniform in `[0, 1)`; values outside `[0, 1]` are
    /// clamped and NaN counts as 0, so any `f64` is safe. The result lies in
    /// `[capped / 2, capped]` where `capped = min(cap, base × 2^(n-1))`: it
    /// is never above `cap`, and never zero unless `base` or `cap` is zero.
    /// Huge attempt counts saturate at `cap`.
    pub fn delay(&self, failed_attempts: u32, jitter: f64) -> Duration {
        let capped = self.capped_exponential(failed_attempts.saturating_sub(1));
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        // The fixed half is rounded up so that even a one-nanosecond wait
        // stays non-zero; the random half is at most `capped / 2`, so
        // `mul_f64` cannot overflow, and the final `min` absorbs float
        // rounding.
        let random_half = capped / 2;
        let fixed_half = capped.saturating_sub(random_half);
        fixed_half
            .saturating_add(random_half.mul_f64(jitter))
            .min(capped)
    }

    /// Whether `attempts` attempts (successful or not) use up the policy.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }

    /// `min(cap, base × 2^doublings)`, without overflow. Doubling stops as
    /// soon as the cap is reached, so the loop runs at most about a hundred
    /// times (a `Duration` holds under 2^94 nanoseconds) however large
    /// `doublings` is.
    fn capped_exponential(&self, doublings: u32) -> Duration {
        let mut wait = self.base.min(self.cap);
        for _ in 0..doublings {
            if wait >= self.cap || wait.is_zero() {
                break;
            }
            wait = wait.saturating_mul(2).min(self.cap);
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn default_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.base, S(5));
        assert_eq!(p.cap, S(3600));
        assert_eq!(p.max_attempts, 10);
    }

    #[test]
    fn doubles_then_caps_with_zero_jitter_at_half() {
        let p = RetryPolicy::default();
        // jitter 0: exactly half of the capped exponential.
        let halves: Vec<Duration> = (1..=12).map(|n| p.delay(n, 0.0)).collect();
        assert_eq!(
            halves,
            vec![
                Duration::from_millis(2500),
                S(5),
                S(10),
                S(20),
                S(40),
                S(80),
                S(160),
                S(320),
                S(640),
                S(1280),
                S(1800), // 5 × 2^10 = 5120 s, capped at 3600 s
                S(1800),
            ]
        );
    }

    #[test]
    fn jitter_spans_half_to_full() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(3750));
        let almost = p.delay(3, 0.999_999);
        assert!(
            almost < S(20) && almost > Duration::from_millis(19_999),
            "{almost:?}"
        );
        assert_eq!(p.delay(3, 1.0), S(20));
        assert_eq!(p.delay(30, 0.5), S(2700));
    }

    #[test]
    fn zero_failures_is_treated_as_one() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, 0.3), p.delay(1, 0.3));
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(2, -3.0), S(5));
        assert_eq!(p.delay(2, f64::NAN), S(5));
        assert_eq!(p.delay(2, 7.0), S(10));
        assert_eq!(p.delay(2, f64::INFINITY), S(10));
        assert_eq!(p.delay(2, f64::NEG_INFINITY), S(5));
    }

    #[test]
    fn never_zero_never_above_cap_never_overflows() {
        let policies = [
            RetryPolicy::default(),
            RetryPolicy {
                base: Duration::from_nanos(1),
                cap: Duration::MAX,
                max_attempts: u32::MAX,
            },
            RetryPolicy {
                base: Duration::MAX,
                cap: Duration::MAX,
                max_attempts: 1,
            },
            RetryPolicy {
                base: S(10),
                cap: S(3), // a cap below the base wins
                max_attempts: 3,
            },
        ];
        for p in policies {
            for n in [
                0,
                1,
                2,
                31,
                32,
                63,
                64,
                65,
                100,
                1000,
                u32::MAX - 1,
                u32::MAX,
            ] {
                for j in [0.0, 0.25, 0.5, 0.999_999_999, 1.0] {
                    let d = p.delay(n, j);
                    assert!(d <= p.cap, "{p:?} n={n} j={j}: {d:?}");
                    assert!(!d.is_zero(), "{p:?} n={n} j={j}");
                }
            }
        }
        let huge = RetryPolicy {
            base: Duration::from_nanos(1),
            cap: Duration::MAX,
            max_attempts: 1,
        };
        assert!(huge.delay(u32::MAX, 1.0) >= Duration::MAX / 2);
    }

    #[test]
    fn zero_base_gives_zero_without_looping_forever() {
        let p = RetryPolicy {
            base: Duration::ZERO,
            cap: S(60),
            max_attempts: 3,
        };
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::ZERO);
    }

    #[test]
    fn exhausted_counts_all_attempts() {
        let p = RetryPolicy::default();
        assert!(!p.exhausted(0));
        assert!(!p.exhausted(9));
        assert!(p.exhausted(10));
        assert!(p.exhausted(u32::MAX));
        let none = RetryPolicy {
            max_attempts: 0,
            ..p
        };
        assert!(none.exhausted(0));
    }
}
