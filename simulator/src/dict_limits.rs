//! DICT's rate limits: a token bucket per participant and operation policy, `429 RateLimited`
//! when empty. The policies, their operations, sizes and counting rules are DICT's OpenAPI's
//! (2.12.1, "Limitação de requisições"): `ENTRIES_WRITE` 1,200/min with a bucket of 36,000;
//! `ENTRIES_UPDATE` 600/min, 600; `KEYS_CHECK` 70/min, 70; `CLAIMS_WRITE` 1,200/min, 36,000;
//! `CLAIMS_READ` (getClaim) 600/min, 18,000; `CLAIMS_LIST_WITH_ROLE` (listClaims filtered by
//! `IsDonor`/`IsClaimer`) 40/min, 200, and `CLAIMS_LIST_WITHOUT_ROLE` 10/min, 50; lookups by
//! participant (`ENTRIES_READ_PARTICIPANT_ANTISCAN`), category A: 25,000/min, 50,000, a `200`
//! costing 1 token and a `404` 3. The per-user anti-scan buckets need the end user's identity and
//! are not simulated.

use std::collections::HashMap;
use std::sync::Mutex;

use http::Method;

use crate::bucket::TokenBucket;

/// One operation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// DICT's name for it, e.g. `ENTRIES_WRITE`.
    pub name: String,
    /// Bucket size, tokens.
    pub capacity: f64,
    /// Tokens added per minute.
    pub refill_per_minute: f64,
    /// What a `404` answer costs in all (the anti-scan rule: 3 for
    /// `ENTRIES_READ_PARTICIPANT_ANTISCAN`); 0 for a policy without a rule of its own (1, as
    /// every answer).
    pub not_found_cost: f64,
}

impl Policy {
    /// A policy with no `404` penalty.
    pub fn new(name: &str, capacity: f64, refill_per_minute: f64) -> Self {
        Policy {
            name: name.to_string(),
            capacity,
            refill_per_minute,
            not_found_cost: 0.0,
        }
    }
}

/// The policies of the module docs.
pub fn default_policies() -> Vec<Policy> {
    vec![
        Policy::new("ENTRIES_WRITE", 36_000.0, 1_200.0),
        Policy::new("ENTRIES_UPDATE", 600.0, 600.0),
        Policy {
            not_found_cost: 3.0,
            ..Policy::new("ENTRIES_READ_PARTICIPANT_ANTISCAN", 50_000.0, 25_000.0)
        },
        Policy::new("KEYS_CHECK", 70.0, 70.0),
        Policy::new("CLAIMS_WRITE", 36_000.0, 1_200.0),
        Policy::new("CLAIMS_READ", 18_000.0, 600.0),
        Policy::new("CLAIMS_LIST_WITH_ROLE", 200.0, 40.0),
        Policy::new("CLAIMS_LIST_WITHOUT_ROLE", 50.0, 10.0),
    ]
}

/// The policy of a DICT request (`rest`: the path after `/api/v2`; `query`: its query), if it
/// has one.
pub fn policy_of(method: &Method, rest: &[&str], query: &str) -> Option<&'static str> {
    Some(match (method, rest) {
        (&Method::POST, ["entries", ""]) | (&Method::POST, ["entries", _, "delete"]) => "ENTRIES_WRITE",
        (&Method::PUT, ["entries", _]) => "ENTRIES_UPDATE",
        (&Method::GET, ["entries", _]) => "ENTRIES_READ_PARTICIPANT_ANTISCAN",
        (&Method::POST, ["claims", ..]) => "CLAIMS_WRITE",
        (&Method::GET, ["claims", ""]) => {
            let role = query
                .split('&')
                .any(|p| p.starts_with("IsDonor=") || p.starts_with("IsClaimer="));
            if role {
                "CLAIMS_LIST_WITH_ROLE"
            } else {
                "CLAIMS_LIST_WITHOUT_ROLE"
            }
        }
        (&Method::GET, ["claims", _]) => "CLAIMS_READ",
        _ => return None,
    })
}

/// Every participant's buckets.
pub struct Buckets {
    inner: Mutex<Inner>,
}

struct Inner {
    policies: HashMap<String, Policy>,
    buckets: HashMap<(String, String), TokenBucket>,
}

impl Buckets {
    /// Buckets for these policies (filled on first use).
    pub fn new(policies: &[Policy]) -> Self {
        Buckets {
            inner: Mutex::new(Inner {
                policies: policies.iter().map(|p| (p.name.clone(), p.clone())).collect(),
                buckets: HashMap::new(),
            }),
        }
    }

    /// Replaces the policy of the same name (keeping its `404` penalty); its buckets start full.
    pub fn replace(&self, mut policy: Policy) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.policies.get(&policy.name) {
            policy.not_found_cost = old.not_found_cost;
        }
        inner.buckets.retain(|(_, name), _| *name != policy.name);
        tracing::info!(policy = %policy.name, capacity = policy.capacity, refill_per_minute = policy.refill_per_minute, "DICT policy replaced");
        inner.policies.insert(policy.name.clone(), policy);
    }

    fn with<T>(
        &self,
        participant: &str,
        policy: &str,
        f: impl FnOnce(&Policy, &mut TokenBucket) -> T,
    ) -> Option<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner { policies, buckets } = &mut *inner;
        let p = policies.get(policy)?;
        let bucket = buckets
            .entry((participant.to_string(), policy.to_string()))
            .or_insert_with(|| TokenBucket::new(p.capacity, p.refill_per_minute / 60.0));
        Some(f(p, bucket))
    }

    /// Takes a token of `policy` for `participant`, or says in how many seconds there will be one.
    pub fn take(&self, participant: &str, policy: &str) -> Result<(), u64> {
        self.with(participant, policy, |_, b| b.take(1.0))
            .unwrap_or(Ok(()))
    }

    /// Charges what a `404` costs beyond the token [`Buckets::take`] took.
    pub fn not_found(&self, participant: &str, policy: &str) {
        self.with(participant, policy, |p, b| {
            b.charge((p.not_found_cost - 1.0).max(0.0))
        });
    }
}
