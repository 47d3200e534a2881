//! Misbehaving on purpose, for the proxy's resilience tests: per endpoint (SPI, DICT) an added
//! latency, a share of `500`/`503` answers, a share of dropped connections, responses whose
//! signature is broken, and responses signed by a key nobody trusts. Random choices come from a
//! seeded generator, so a run is repeatable.

use std::collections::HashMap;
use std::time::Duration;

/// The faults of one endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every response.
    pub latency: Duration,
    /// Share (0 to 1) of requests answered `500` or `503` (alternately).
    pub error_rate: f64,
    /// Share (0 to 1) of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Corrupt the `SignatureValue` of signed responses.
    pub broken_signature: bool,
    /// Sign responses with a key the proxy does not trust.
    pub unknown_key: bool,
}

impl Faults {
    /// Parses `latency_ms=…&error_rate=…&drop_rate=…&broken_signature=true&unknown_key=true`
    /// (all optional; absent means none).
    pub fn from_query(query: &str) -> Result<Self, String> {
        let mut f = Faults::default();
        let pairs: HashMap<&str, &str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "true")))
            .collect();
        for (k, v) in pairs {
            let bad = || format!("bad value '{v}' for {k}");
            match k {
                "family" => {}
                "latency_ms" => f.latency = Duration::from_millis(v.parse().map_err(|_| bad())?),
                "error_rate" => f.error_rate = rate(v).ok_or_else(bad)?,
                "drop_rate" => f.drop_rate = rate(v).ok_or_else(bad)?,
                "broken_signature" => f.broken_signature = v.parse().map_err(|_| bad())?,
                "unknown_key" => f.unknown_key = v.parse().map_err(|_| bad())?,
                _ => return Err(format!("unknown fault '{k}'")),
            }
        }
        Ok(f)
    }
}

fn rate(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r))
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Answer normally (possibly late, possibly with a bad signature).
    Serve,
    /// Answer with this status instead.
    Fail(u16),
    /// Close the connection without answering.
    Drop,
}

/// A small deterministic generator (xorshift64*): faults must be repeatable under a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// A number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decides the fate of a request under `faults`; `count` alternates 500 and 503.
    pub fn decide(&mut self, faults: &Faults, count: u64) -> Decision {
        if faults.drop_rate > 0.0 && self.next_f64() < faults.drop_rate {
            return Decision::Drop;
        }
        if faults.error_rate > 0.0 && self.next_f64() < faults.error_rate {
            return Decision::Fail(if count.is_multiple_of(2) { 503 } else { 500 });
        }
        Decision::Serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_bad_ones_are_refused() {
        let f = Faults::from_query("family=spi&latency_ms=20&error_rate=0.5&broken_signature=true").unwrap();
        assert_eq!(f.latency, Duration::from_millis(20));
        assert_eq!(f.error_rate, 0.5);
        assert!(f.broken_signature && !f.unknown_key);
        assert!(Faults::from_query("error_rate=2").is_err());
        assert!(Faults::from_query("frobnicate=1").is_err());
    }

    #[test]
    fn decisions_are_repeatable_under_a_seed() {
        let f = Faults {
            error_rate: 0.3,
            drop_rate: 0.2,
            ..Default::default()
        };
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..100).map(|i| r.decide(&f, i)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let drops = run(7).iter().filter(|d| **d == Decision::Drop).count();
        assert!((5..=40).contains(&drops), "{drops}");
    }
}
