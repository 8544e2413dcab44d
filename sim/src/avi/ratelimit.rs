//! Per-client request rate limit, modelled on nginx `limit_req` (which fronts the real
//! controller's API): a leaky bucket per key with an average rate and a burst of excess requests;
//! excess requests wait for their slot (or pass at once with `delay: false`), requests beyond
//! the burst get 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::RateLimitConfig;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Allow,
    Delay(Duration),
    Reject,
}

#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    /// Requests in excess of the average rate, leaking at `rate_per_sec`.
    excess: f64,
    last: Instant,
}

/// nginx's rule: excess' = max(0, excess - rate * elapsed + 1); reject when excess' > burst,
/// else delay by excess' / rate.
pub fn decide(
    bucket: Option<&mut Bucket>,
    now: Instant,
    limit: &RateLimitConfig,
) -> (Decision, Option<Bucket>) {
    let Some(bucket) = bucket else {
        return (
            Decision::Allow,
            Some(Bucket {
                excess: 0.0,
                last: now,
            }),
        );
    };
    let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
    let excess = (bucket.excess - limit.rate_per_sec * elapsed + 1.0).max(0.0);
    if excess > f64::from(limit.burst) {
        return (Decision::Reject, None);
    }
    bucket.excess = excess;
    bucket.last = now;
    if excess > 0.0 && limit.delay && limit.rate_per_sec > 0.0 {
        (
            Decision::Delay(Duration::from_secs_f64(excess / limit.rate_per_sec)),
            None,
        )
    } else {
        (Decision::Allow, None)
    }
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    config: Mutex<Option<RateLimitConfig>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(config: Option<RateLimitConfig>) -> RateLimiter {
        RateLimiter {
            config: Mutex::new(config),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> Option<RateLimitConfig> {
        *self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes (or removes) the limit; buckets start over.
    pub fn set_config(&self, config: Option<RateLimitConfig>) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn check(&self, key: &str) -> Decision {
        let Some(limit) = self.config() else {
            return Decision::Allow;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Forget drained buckets now and then: per-session keys would otherwise pile up.
        if buckets.len() >= 4096 && buckets.len().is_power_of_two() {
            buckets.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                b.excess - limit.rate_per_sec * elapsed > 0.0
            });
        }
        let (decision, fresh) = decide(buckets.get_mut(key), now, &limit);
        if let Some(bucket) = fresh {
            buckets.insert(key.to_string(), bucket);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avi::config::RateLimitScope;

    fn limit(rate: f64, burst: u32, delay: bool) -> RateLimitConfig {
        RateLimitConfig {
            rate_per_sec: rate,
            burst,
            scope: RateLimitScope::SourceIp,
            delay,
        }
    }

    #[test]
    fn burst_then_reject_then_leak() {
        let l = limit(10.0, 2, false);
        let t0 = Instant::now();
        let (d, fresh) = decide(None, t0, &l);
        assert_eq!(d, Decision::Allow);
        let mut b = fresh.unwrap();
        assert_eq!(decide(Some(&mut b), t0, &l).0, Decision::Allow); // excess 1
        assert_eq!(decide(Some(&mut b), t0, &l).0, Decision::Allow); // excess 2
        assert_eq!(decide(Some(&mut b), t0, &l).0, Decision::Reject); // would be 3
        // One second later ten requests have leaked away.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(decide(Some(&mut b), t1, &l).0, Decision::Allow);
    }

    #[test]
    fn delay_mode_spaces_requests() {
        let l = limit(10.0, 5, true);
        let t0 = Instant::now();
        let mut b = decide(None, t0, &l).1.unwrap();
        match decide(Some(&mut b), t0, &l).0 {
            Decision::Delay(d) => assert_eq!(d, Duration::from_millis(100)),
            other => panic!("expected a delay, got {other:?}"),
        }
    }

    #[test]
    fn unlimited_allows_everything() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            assert_eq!(limiter.check("k"), Decision::Allow);
        }
    }
}
