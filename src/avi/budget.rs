//! The controller's API budget as a token bucket shared by every request of one client: requests
//! wait for a token instead of drawing 429s. Fair (first come, first served) and async.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;

/// Requests per second with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateBudget {
    pub per_second: f64,
    pub burst: u32,
}

impl RateBudget {
    /// Safely under the controller's default of about 32 requests/s per client.
    pub const DEFAULT: RateBudget = RateBudget {
        per_second: 25.0,
        burst: 25,
    };
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket; `acquire` returns how long the caller waited.
pub struct TokenBucket {
    budget: RateBudget,
    bucket: Mutex<Bucket>,
}

impl TokenBucket {
    pub fn new(budget: RateBudget) -> Self {
        TokenBucket {
            budget,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(budget.burst.max(1)),
                last: Instant::now(),
            }),
        }
    }

    pub fn budget(&self) -> RateBudget {
        self.budget
    }

    /// Waits until a token is available and takes it. Holding the lock while sleeping keeps the
    /// order of waiters (tokio's mutex is fair).
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        let mut bucket = self.bucket.lock().await;
        let rate = self.budget.per_second.max(0.001);
        let capacity = f64::from(self.budget.burst.max(1));
        loop {
            let now = Instant::now();
            bucket.tokens = (bucket.tokens + now.duration_since(bucket.last).as_secs_f64() * rate)
                .min(capacity);
            bucket.last = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return started.elapsed();
            }
            let missing = 1.0 - bucket.tokens;
            tokio::time::sleep(Duration::from_secs_f64(missing / rate)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let bucket = TokenBucket::new(RateBudget {
            per_second: 10.0,
            burst: 5,
        });
        let started = tokio::time::Instant::now();
        for _ in 0..5 {
            assert_eq!(bucket.acquire().await, Duration::ZERO, "the burst is free");
        }
        for _ in 0..10 {
            bucket.acquire().await;
        }
        // Ten more tokens at 10/s take a second of (virtual) time.
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(990) && elapsed <= Duration::from_millis(1100),
            "{elapsed:?}"
        );
    }
}
