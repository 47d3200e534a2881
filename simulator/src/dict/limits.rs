//! DICT's rate limits: a token bucket per participant (or, for the user anti-scan policies, per
//! end user: the lookup's `PI-PayerId`) and policy, `429 RateLimited` when empty. The policies,
//! their operations, sizes and counting rules are DICT's OpenAPI's (2.12.1, "Limitação de
//! requisições", every operation it lists on its policy): entries, claims, infraction reports,
//! refunds and policies each on their `…_READ`, `…_WRITE` and `…_LIST_WITH_ROLE` /
//! `…_LIST_WITHOUT_ROLE` buckets; `KEYS_CHECK` 70/min, 70; lookups on
//! `ENTRIES_READ_PARTICIPANT_ANTISCAN`, sized by the participant's category (A 25,000/min and
//! 50,000 down to H 2/min and 50; a `200` costs 1 token, a `404` 3) and on the payer's
//! `ENTRIES_READ_USER_ANTISCAN` (EMAIL and PHONE keys) or `…_V2` (CPF, CNPJ, EVP), sized by the
//! payer's kind — a natural person (a CPF, 11 digits) 2/min and 100, a legal person (a CNPJ, 14)
//! 20/min and 1,000 — where a `200` costs 1 and a `404` 20.

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
    /// `ENTRIES_READ_PARTICIPANT_ANTISCAN`, 20 for the user ones); 0 for a policy without a rule
    /// of its own (1, as every answer).
    pub not_found_cost: f64,
    /// A user-scoped policy: its bucket is the end user's (the payer), sized by the payer's
    /// kind; `capacity` and `refill_per_minute` are a natural person's, this a legal person's.
    pub legal_person: Option<(f64, f64)>,
}

impl Policy {
    /// A policy with no `404` penalty.
    pub fn new(name: &str, capacity: f64, refill_per_minute: f64) -> Self {
        Policy {
            name: name.to_string(),
            capacity,
            refill_per_minute,
            not_found_cost: 0.0,
            legal_person: None,
        }
    }

    /// A user anti-scan policy (natural person 2/min and 100; legal person 20/min and 1,000; a
    /// `404` costs 20).
    fn per_user(name: &str) -> Self {
        Policy {
            not_found_cost: 20.0,
            legal_person: Some((1_000.0, 20.0)),
            ..Policy::new(name, 100.0, 2.0)
        }
    }
}

/// A participant's category for `ENTRIES_READ_PARTICIPANT_ANTISCAN`: (bucket, refill per minute)
/// by DICT's OpenAPI's table, A to H.
pub fn category_size(category: char) -> Option<(f64, f64)> {
    Some(match category {
        'A' => (50_000.0, 25_000.0),
        'B' => (40_000.0, 20_000.0),
        'C' => (30_000.0, 15_000.0),
        'D' => (16_000.0, 8_000.0),
        'E' => (5_000.0, 2_500.0),
        'F' => (500.0, 250.0),
        'G' => (250.0, 25.0),
        'H' => (50.0, 2.0),
        _ => return None,
    })
}

/// The policy a lookup of `key` draws on for its payer: EMAIL and PHONE keys
/// `ENTRIES_READ_USER_ANTISCAN`, the others (CPF, CNPJ, EVP) `…_V2`.
pub fn user_policy_of(key: &str) -> &'static str {
    if key.starts_with('+') || key.contains('@') {
        "ENTRIES_READ_USER_ANTISCAN"
    } else {
        "ENTRIES_READ_USER_ANTISCAN_V2"
    }
}

/// The policies of the module docs, for a participant of category A.
pub fn default_policies() -> Vec<Policy> {
    policies_for('A')
}

/// The policies of the module docs, `ENTRIES_READ_PARTICIPANT_ANTISCAN` sized for `category`
/// (A to H; another letter is A).
pub fn policies_for(category: char) -> Vec<Policy> {
    let (capacity, refill) = category_size(category).unwrap_or((50_000.0, 25_000.0));
    vec![
        Policy::new("ENTRIES_WRITE", 36_000.0, 1_200.0),
        Policy::new("ENTRIES_UPDATE", 600.0, 600.0),
        Policy {
            not_found_cost: 3.0,
            ..Policy::new("ENTRIES_READ_PARTICIPANT_ANTISCAN", capacity, refill)
        },
        Policy::new("KEYS_CHECK", 70.0, 70.0),
        Policy::new("CLAIMS_WRITE", 36_000.0, 1_200.0),
        Policy::new("CLAIMS_READ", 18_000.0, 600.0),
        Policy::new("CLAIMS_LIST_WITH_ROLE", 200.0, 40.0),
        Policy::new("CLAIMS_LIST_WITHOUT_ROLE", 50.0, 10.0),
        Policy::new("INFRACTION_REPORTS_READ", 18_000.0, 600.0),
        Policy::new("INFRACTION_REPORTS_WRITE", 36_000.0, 1_200.0),
        Policy::new("INFRACTION_REPORTS_LIST_WITH_ROLE", 200.0, 40.0),
        Policy::new("INFRACTION_REPORTS_LIST_WITHOUT_ROLE", 50.0, 10.0),
        Policy::new("REFUNDS_READ", 36_000.0, 1_200.0),
        Policy::new("REFUNDS_WRITE", 72_000.0, 2_400.0),
        Policy::new("REFUND_LIST_WITH_ROLE", 200.0, 40.0),
        Policy::new("REFUND_LIST_WITHOUT_ROLE", 50.0, 10.0),
        Policy::new("SYNC_VERIFICATIONS_WRITE", 50.0, 10.0),
        Policy::new("CIDS_ENTRIES_READ", 36_000.0, 1_200.0),
        // 40 a day.
        Policy::new("CIDS_FILES_WRITE", 200.0, 40.0 / 1_440.0),
        Policy::new("CIDS_FILES_READ", 50.0, 10.0),
        Policy::new("CIDS_EVENTS_LIST", 100.0, 20.0),
        Policy::new("POLICIES_READ", 200.0, 60.0),
        Policy::new("POLICIES_LIST", 20.0, 6.0),
        Policy::per_user("ENTRIES_READ_USER_ANTISCAN"),
        Policy::per_user("ENTRIES_READ_USER_ANTISCAN_V2"),
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
            if has_any(query, &["IsDonor=", "IsClaimer="]) {
                "CLAIMS_LIST_WITH_ROLE"
            } else {
                "CLAIMS_LIST_WITHOUT_ROLE"
            }
        }
        (&Method::GET, ["claims", _]) => "CLAIMS_READ",
        (&Method::GET, ["infraction-reports", ""]) => {
            if has_any(query, &["IsReporter=", "IsCounterparty="]) {
                "INFRACTION_REPORTS_LIST_WITH_ROLE"
            } else {
                "INFRACTION_REPORTS_LIST_WITHOUT_ROLE"
            }
        }
        (&Method::GET, ["infraction-reports", _]) => "INFRACTION_REPORTS_READ",
        (&Method::POST | &Method::PUT, ["infraction-reports", ..]) => "INFRACTION_REPORTS_WRITE",
        (&Method::GET, ["refunds", ""]) => {
            if has_any(query, &["ParticipantRole="]) {
                "REFUND_LIST_WITH_ROLE"
            } else {
                "REFUND_LIST_WITHOUT_ROLE"
            }
        }
        (&Method::GET, ["refunds", _]) => "REFUNDS_READ",
        (&Method::POST, ["refunds", ..]) => "REFUNDS_WRITE",
        (&Method::POST, ["sync-verifications", ""]) => "SYNC_VERIFICATIONS_WRITE",
        (&Method::GET, ["cids", "entries", _]) => "CIDS_ENTRIES_READ",
        (&Method::POST, ["cids", "files", ""]) => "CIDS_FILES_WRITE",
        (&Method::GET, ["cids", "files", _]) => "CIDS_FILES_READ",
        (&Method::GET, ["cids", "events"]) => "CIDS_EVENTS_LIST",
        (&Method::GET, ["policies", ""]) => "POLICIES_LIST",
        (&Method::GET, ["policies", _]) => "POLICIES_READ",
        _ => return None,
    })
}

/// Whether the query has one of these `name=` parameters.
fn has_any(query: &str, names: &[&str]) -> bool {
    query.split('&').any(|p| names.iter().any(|n| p.starts_with(n)))
}

/// One bucket's state, as `/policies` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketState {
    /// Tokens in it now.
    pub available: f64,
    /// Its size.
    pub capacity: f64,
    /// Tokens added per minute.
    pub refill_per_minute: f64,
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

    /// The names of the participant-scoped policies, in order.
    pub fn names(&self) -> Vec<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = inner
            .policies
            .values()
            .filter(|p| p.legal_person.is_none())
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names
    }

    /// The state of `participant`'s bucket of `policy` (full when never used); `None` for a
    /// policy there is none of.
    pub fn state(&self, participant: &str, policy: &str) -> Option<BucketState> {
        self.with(participant, policy, |p, b| BucketState {
            available: b.available(),
            capacity: b.capacity(),
            refill_per_minute: p.refill_per_minute,
        })
    }

    /// Replaces the policy of the same name (keeping its `404` penalty); its buckets start full.
    pub fn replace(&self, mut policy: Policy) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.policies.get(&policy.name) {
            policy.not_found_cost = old.not_found_cost;
            policy.legal_person = old.legal_person;
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
        // A user policy's bucket is sized by the payer's kind: a CNPJ (14 digits) is a legal
        // person's.
        let (capacity, refill) = match p.legal_person {
            Some(legal) if participant.len() == 14 => legal,
            _ => (p.capacity, p.refill_per_minute),
        };
        let bucket = buckets
            .entry((participant.to_string(), policy.to_string()))
            .or_insert_with(|| TokenBucket::new(capacity, refill / 60.0));
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
