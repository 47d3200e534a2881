//! Token buckets: ICOM's rate limits (each channel's) and each of DICT's policies are one. The
//! simulator enforces them; the relay keeps to the secondary channel's before BACEN has to refuse.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// What one message of type `kind` (`pacs.002`, …) costs in ICOM's tokens: a pacs.002 0.2, any
/// other message 1 (DESIGN §6).
pub fn cost_of(kind: &str) -> f64 {
    if kind == "pacs.002" { 0.2 } else { 1.0 }
}

/// The secondary ICOM channel's buckets (DESIGN §6, the contingency channel as participants quote
/// BACEN's Manual das Interfaces de Comunicação): from 08 h to 24 h Brasília time, 350 tokens
/// refilled 35 per second; from 0 h to 8 h, 5,000 refilled 350 per second. Each period has its own
/// bucket, full when the period starts.
#[derive(Debug, Clone)]
pub struct SecondaryBuckets {
    day: TokenBucket,
    night: TokenBucket,
    /// The period the last request fell in (a new period starts with its bucket full).
    night_last: Option<bool>,
}

/// Brasília's offset from UTC (no daylight saving time since 2019).
const BRASILIA_OFFSET_SECONDS: i64 = -3 * 3600;

/// Whether `at` falls in the secondary channel's night period (0 h to 8 h, Brasília time).
pub fn is_night(at: SystemTime) -> bool {
    let unix = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let hour = (unix + BRASILIA_OFFSET_SECONDS).rem_euclid(86_400) / 3600;
    hour < 8
}

impl SecondaryBuckets {
    /// Day: 350 tokens refilled 35/s.
    pub const DAY: (f64, f64) = (350.0, 35.0);
    /// Night (0 h to 8 h): 5,000 tokens refilled 350/s.
    pub const NIGHT: (f64, f64) = (5000.0, 350.0);

    /// Both buckets, full.
    pub fn new() -> Self {
        SecondaryBuckets {
            day: TokenBucket::new(Self::DAY.0, Self::DAY.1),
            night: TokenBucket::new(Self::NIGHT.0, Self::NIGHT.1),
            night_last: None,
        }
    }

    /// The bucket of the period `at` falls in.
    fn current(&mut self, at: SystemTime) -> &mut TokenBucket {
        let night = is_night(at);
        if self.night_last.is_some_and(|n| n != night) {
            let (capacity, refill) = if night { Self::NIGHT } else { Self::DAY };
            *(if night { &mut self.night } else { &mut self.day }) = TokenBucket::new(capacity, refill);
        }
        self.night_last = Some(night);
        if night { &mut self.night } else { &mut self.day }
    }

    /// Takes `cost` tokens from the bucket of `at`'s period, or says in how many whole seconds
    /// there will be enough.
    pub fn take(&mut self, cost: f64, at: SystemTime) -> Result<(), u64> {
        self.current(at).take(cost)
    }
}

impl Default for SecondaryBuckets {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2026-12-04 at `hour`:00 Brasília time.
    fn brasilia(hour: u64) -> SystemTime {
        // 2026-12-04T00:00:00Z is 1796342400; Brasília's midnight is 03:00 UTC.
        UNIX_EPOCH + Duration::from_secs(1_796_342_400 + (hour + 3) * 3600)
    }

    #[test]
    fn the_secondary_channel_has_its_day_and_night_buckets() {
        assert!(is_night(brasilia(0)));
        assert!(is_night(brasilia(7)));
        assert!(!is_night(brasilia(8)));
        assert!(!is_night(brasilia(23)));
        let mut b = SecondaryBuckets::new();
        // By day 350 tokens, then the wait for 35 more at 35/s.
        assert!(b.take(350.0, brasilia(12)).is_ok());
        assert_eq!(b.take(35.0, brasilia(12)), Err(1));
        // At night the larger bucket, whatever the day's spent.
        assert!(b.take(5000.0, brasilia(2)).is_ok());
        assert!(b.take(1.0, brasilia(2)).is_err());
        // A new day starts full.
        assert!(b.take(350.0, brasilia(9)).is_ok());
    }

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
