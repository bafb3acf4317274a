//! When things happen again: each source's next poll (its interval, spread
//! by a jitter so sources with one interval do not fire together) and the
//! one exponential backoff used by polling and delivery alike.

use std::time::Duration;

use crate::normalize::short_hash;

/// Exponential backoff: `base · 2^(attempt-1)`, capped. `attempt` counts
/// from 1 (the first retry waits `base`).
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    base.saturating_mul(factor).min(cap)
}

/// A stable fraction in [0, 1) derived from a name: each source keeps its
/// own phase across restarts, and the phases are spread evenly.
pub fn phase(name: &str) -> f64 {
    let hex = short_hash(&[name]);
    let n = u32::from_str_radix(&hex[..8], 16).unwrap_or(0);
    f64::from(n) / (f64::from(u32::MAX) + 1.0)
}

/// The wait before a source's next poll: its interval, plus or minus up to
/// 10 % chosen by the source's phase, so polls of many sources with one
/// interval spread out instead of firing together.
pub fn next_poll(interval: Duration, name: &str, failures: u32) -> Duration {
    let jitter = (phase(name) - 0.5) * 0.2;
    let base = interval.mul_f64(1.0 + jitter);
    if failures == 0 {
        return base;
    }
    // A failing source is retried sooner than never and later than always:
    // doubling from its interval, at most six hours apart.
    backoff(base, failures + 1, Duration::from_secs(6 * 3600).max(base))
}

/// Delivery retries: 30 s, 1 min, 2 min … up to one hour.
pub fn delivery_retry(attempt: u32) -> Duration {
    backoff(Duration::from_secs(30), attempt, Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(30), 1, s(3600)), s(30));
        assert_eq!(backoff(s(30), 2, s(3600)), s(60));
        assert_eq!(backoff(s(30), 5, s(3600)), s(480));
        assert_eq!(backoff(s(30), 100, s(3600)), s(3600));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for name in ["un-news", "rfi", "abamako", "maliweb", ""] {
            let d = next_poll(Duration::from_secs(600), name, 0);
            assert!(
                d >= Duration::from_secs(540) && d <= Duration::from_secs(660),
                "{name}: {d:?}"
            );
        }
        assert_ne!(phase("un-news"), phase("rfi"));
    }

    #[test]
    fn failing_sources_back_off() {
        let interval = Duration::from_secs(600);
        let first = next_poll(interval, "x", 1);
        assert!(first > next_poll(interval, "x", 0));
        assert!(next_poll(interval, "x", 50) <= Duration::from_secs(6 * 3600));
    }
}
