//! Jittered exponential backoff, for calls to AWS services that throttle or fail for a while
//! (KMS `Sign`, Firehose `PutRecordBatch`).

use std::time::Duration;

/// Delays between attempts: `base · 2^attempt`, capped, with "full jitter" (a uniformly random
/// delay up to that bound) so that many callers retrying together spread out.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The bound of the first delay.
    pub base: Duration,
    /// The largest bound.
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let bound = self.base.saturating_mul(1u32 << attempt.min(20)).min(self.cap);
        let mut r = [0u8; 4];
        // Without randomness the delay is the bound itself: still a backoff, only less spread.
        let fraction = match aws_lc_rs::rand::fill(&mut r) {
            Ok(()) => f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX),
            Err(_) => 1.0,
        };
        bound.mul_f64(fraction)
    }
}

/// A [`Backoff`] that counts its own attempts: the delay before the next one, and back to the
/// first after a success.
#[derive(Debug, Clone, Copy)]
pub struct Attempts {
    delays: Backoff,
    attempt: u32,
}

impl Attempts {
    /// Attempts whose delays start under `base` and grow up to `cap` (at least `base`).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Attempts {
            delays: Backoff {
                base,
                cap: cap.max(base),
            },
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let wait = self.delays.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        wait
    }

    /// After a success: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(100),
        };
        for attempt in 0..40 {
            let bound = Duration::from_millis((10u64 << attempt.min(20)).min(100));
            assert!(b.delay(attempt) <= bound, "attempt {attempt}");
        }
        // Jitter: 50 draws under the cap are not all equal.
        let draws: std::collections::HashSet<_> = (0..50).map(|_| b.delay(10)).collect();
        assert!(draws.len() > 1);
    }
}
