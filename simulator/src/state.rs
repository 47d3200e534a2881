//! The simulator's shared state: participants, streams, payments under way, faults, counters,
//! and the signing of every answer.

use std::collections::HashMap;
use std::sync::Mutex;

use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::{Signer, SoftwareSigner};

use crate::config::{Config, Family};
use crate::dict::limits as dict_limits;
use crate::faults::{Decision, Faults, Rng};
use crate::participants::Registry;
use crate::{clearing, dict, spi};

/// State shared by every connection.
pub(crate) struct State {
    pub(crate) config: Config,
    /// BACEN's schemas (`--schemas`): every message of a type they cover is validated.
    pub(crate) schemas: Option<pix_schemas::Catalog>,
    pub(crate) participants: Registry,
    pub(crate) clearing: clearing::Clearing,
    pub(crate) dict_limits: dict_limits::Buckets,
    pub(crate) signer: SoftwareSigner,
    /// The identity of a rollover, when configured.
    pub(crate) next: Option<SoftwareSigner>,
    /// Signs answers when the `unknown_key` fault is on: nobody trusts it.
    pub(crate) rogue: SoftwareSigner,
    pub(crate) faults: Mutex<FaultState>,
    /// Requests under way per (participant, side: send or receive).
    pub(crate) in_flight: Mutex<HashMap<(String, bool), usize>>,
    /// What ICOM's send endpoint has seen.
    pub(crate) stats: Mutex<Stats>,
    pub(crate) spi: spi::Spi,
    /// Whether ICOM's primary channel takes connections (the control port's `/primary`).
    pub(crate) primary_up: tokio::sync::watch::Sender<bool>,
    pub(crate) dict: dict::Dict,
}

pub(crate) struct FaultState {
    pub(crate) spi: Faults,
    pub(crate) dict: Faults,
    pub(crate) rng: Rng,
    pub(crate) count: u64,
    /// Per family (SPI, DICT): signs with the rollover identity since `POST /rollover`.
    pub(crate) rolled: [bool; 2],
    /// Per family: the signature of the n-th answer signed from now is broken (`POST /break`).
    pub(crate) break_nth: [u64; 2],
    /// The n-th SPI send from now is answered `429` with this `Retry-After` (`POST /throttle`).
    pub(crate) throttle: Option<(u64, u64)>,
}

/// What ICOM's send endpoint has seen (`GET /stats` on the control port), so that tests can see
/// batching.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Every request that reached an SPI or DICT port (any path, any answer): what a test
    /// counts to prove the proxy refused something itself.
    pub received: u64,
    /// Requests to `/msgs`.
    pub requests: u64,
    /// Messages in them.
    pub messages: u64,
    /// Of the requests, those with more than one message.
    pub multipart_requests: u64,
    /// Requests refused for the concurrency limit.
    pub refused_concurrency: u64,
    /// The most simultaneous requests seen on one side of one participant.
    pub max_concurrent_seen: usize,
    /// Messages rejected with an admi.002.
    pub rejected: u64,
    /// Payments rejected `AB03` because the payee did not answer in time.
    pub timed_out: u64,
    /// Payments and refunds delivered to a hosted participant's stream.
    pub forwarded: u64,
    /// admi.002 received from participants (rejecting what they were sent).
    pub participant_rejections: u64,
    /// Requests ICOM's secondary channel answered (sends and stream reads).
    pub secondary_requests: u64,
}

/// Counts one request under way on a side of a participant until dropped.
pub(crate) struct Occupied<'a> {
    pub(crate) state: &'a State,
    pub(crate) key: (String, bool),
}

impl Drop for Occupied<'_> {
    fn drop(&mut self) {
        let mut m = self.state.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

impl State {
    pub(crate) fn faults(&self, family: Family) -> Faults {
        let f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match family {
            Family::Spi => f.spi.clone(),
            Family::Dict => f.dict.clone(),
        }
    }

    pub(crate) fn decide(&self, family: Family) -> (Decision, Faults) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let faults = match family {
            Family::Spi => f.spi.clone(),
            Family::Dict => f.dict.clone(),
        };
        f.count += 1;
        let count = f.count;
        (f.rng.decide(&faults, count), faults)
    }

    /// Signs an answer with BACEN's key (the rollover identity once switched), or misbehaves as
    /// the faults of `family` say.
    pub(crate) async fn sign(&self, xml: &[u8], profile: Profile, family: Family) -> Result<Vec<u8>, String> {
        let faults = self.faults(family);
        let (rolled, break_this) = {
            let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
            let i = family as usize;
            let this = f.break_nth[i] == 1;
            f.break_nth[i] = f.break_nth[i].saturating_sub(1);
            (f.rolled[i], this)
        };
        let signer: &dyn Signer = match (&self.next, faults.unknown_key, rolled) {
            (_, true, _) => &self.rogue,
            (Some(next), false, true) => next,
            _ => &self.signer,
        };
        let mut signed = dsig::sign(xml, profile, signer)
            .await
            .map_err(|e| e.to_string())?;
        if faults.broken_signature || break_this {
            corrupt_signature_value(&mut signed);
        }
        Ok(signed)
    }

    /// Takes a place among the requests under way of `ispb` on one side, or `None` past the limit.
    pub(crate) fn occupy(&self, ispb: &str, send: bool) -> Option<Occupied<'_>> {
        let key = (ispb.to_string(), send);
        let mut m = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.clone()).or_default();
        let limit = self.config.max_concurrent;
        if limit > 0 && *n >= limit {
            drop(m);
            self.stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refused_concurrency += 1;
            return None;
        }
        *n += 1;
        let now = *n;
        drop(m);
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.max_concurrent_seen = s.max_concurrent_seen.max(now);
        Some(Occupied { state: self, key })
    }

    /// Changes the counters.
    pub(crate) fn count(&self, change: impl FnOnce(&mut Stats)) {
        change(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Counts a send of `messages` messages.
    pub(crate) fn count_send(&self, messages: usize) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        s.messages += messages as u64;
        if messages > 1 {
            s.multipart_requests += 1;
        }
    }

    /// The `Retry-After` of a send the throttle control says to refuse now.
    pub(crate) fn throttled(&self) -> Option<u64> {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match f.throttle {
            Some((1, after)) => {
                f.throttle = None;
                Some(after)
            }
            Some((n, after)) => {
                f.throttle = Some((n - 1, after));
                None
            }
            None => None,
        }
    }

    /// `POST /rollover?family=spi|dict`: from now on that family's answers are signed with the
    /// rollover identity, as BACEN does at the hour it announced.
    pub(crate) fn rollover(&self, family: Family) -> Result<(), String> {
        if self.next.is_none() {
            return Err("no rollover identity is configured".into());
        }
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.rolled[family as usize] = true;
        tracing::info!(?family, "signature identity rolled over");
        Ok(())
    }

    /// `POST /break?family=spi|dict&nth=N`: the signature of the N-th answer of that family
    /// signed from now (1: the next) is broken, the others are not.
    pub(crate) fn break_nth(&self, family: Family, nth: u64) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.break_nth[family as usize] = nth;
    }
}

/// Changes one character of the `SignatureValue`: still base64, no longer the signature.
pub(crate) fn corrupt_signature_value(signed: &mut [u8]) {
    let marker = b"<ds:SignatureValue>";
    if let Some(i) = signed.windows(marker.len()).position(|w| w == marker) {
        let at = i + marker.len() + 10;
        if let Some(b) = signed.get_mut(at) {
            *b = if *b == b'A' { b'B' } else { b'A' };
        }
    }
}

pub(crate) fn rogue_signer() -> Result<SoftwareSigner, String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Unknown signer");
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    SoftwareSigner::from_pem(key.serialize_pem().as_bytes(), cert.pem().as_bytes(), "rogue")
        .map_err(|e| e.to_string())
}
