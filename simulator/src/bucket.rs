//! A token bucket: ICOM's rate limit and each of DICT's policies are one.

use std::time::Instant;

/// `capacity` tokens, refilled at `refill` per second; a request takes its cost or waits.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    refill: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, refill_per_second: f64) -> Self {
        TokenBucket {
            tokens: capacity,
            capacity,
            refill: refill_per_second,
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * self.refill;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.refilled = now;
    }

    /// Takes `cost` tokens, or says in how many whole seconds there will be enough.
    pub fn take(&mut self, cost: f64) -> Result<(), u64> {
        self.refill();
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(())
        } else if self.refill <= 0.0 {
            Err(u64::MAX)
        } else {
            Err(((cost - self.tokens) / self.refill).ceil().max(1.0) as u64)
        }
    }

    /// Tokens in the bucket now.
    pub fn available(&mut self) -> f64 {
        self.refill();
        self.tokens
    }

    /// The bucket's size.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Takes `cost` more tokens after the fact (a penalty), down to empty.
    pub fn charge(&mut self, cost: f64) {
        self.refill();
        self.tokens = (self.tokens - cost).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_until_empty_then_says_when() {
        let mut b = TokenBucket::new(2.0, 0.5);
        assert!(b.take(1.0).is_ok());
        assert!(b.take(1.0).is_ok());
        assert_eq!(b.take(1.0), Err(2));
        b.charge(5.0);
        assert!(b.take(0.5).is_err());
    }
}
