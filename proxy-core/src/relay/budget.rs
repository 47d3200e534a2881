//! BACEN's limits on one side of ICOM (sends, or stream reads): at most `max_in_flight` requests
//! under way per proxy — BACEN admits 6 simultaneous requests per participant on each side and
//! answers `429` beyond (its public Q&A, bacen/pix-perguntas-e-respostas #236 and #346, citing the
//! Manual das Interfaces de Comunicação §2.2.2.10); a fleet of N proxies splits the participant's
//! budget. Requests beyond it wait, at most `queue_timeout`; one that waited longer is answered
//! `503 bacenBusy` with `Retry-After`. A `429` with `Retry-After` from BACEN pauses the side until
//! the time BACEN named: waiting requests are not fired into a known refusal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use pix_xmldsig::dsig::Profile;

use super::refusal::{Problem, Refusal};

/// The budget of one side.
#[derive(Debug)]
pub(super) struct Budget {
    family: Profile,
    side: &'static str,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    paused_until: Mutex<Option<Instant>>,
}

impl Budget {
    /// `max_in_flight` requests at once (0: no limit), waiting at most `queue_timeout`.
    pub(super) fn new(
        family: Profile,
        side: &'static str,
        max_in_flight: usize,
        queue_timeout: Duration,
    ) -> Self {
        let slots = if max_in_flight == 0 {
            Semaphore::MAX_PERMITS
        } else {
            max_in_flight
        };
        Budget {
            family,
            side,
            slots: Arc::new(Semaphore::new(slots)),
            queue_timeout,
            paused_until: Mutex::new(None),
        }
    }

    /// A place among the requests under way, once BACEN's pause (if any) is over; `503
    /// bacenBusy` when none frees within the queue timeout.
    pub(super) async fn enter(&self) -> Result<Place, Refusal> {
        match tokio::time::timeout(self.queue_timeout, self.wait()).await {
            Ok(Some(place)) => Ok(place),
            _ => Err(self.busy()),
        }
    }

    /// A place, however long it takes (the batcher: its callers time out on their own).
    pub(super) async fn wait(&self) -> Option<Place> {
        let queued = metrics::gauge!(crate::metrics::BACEN_QUEUED, "family" => self.family.name(), "side" => self.side);
        queued.increment(1.0);
        let waited = async {
            let permit = Arc::clone(&self.slots).acquire_owned().await.ok()?;
            // Checked with the place taken: a pause BACEN asked for while we queued holds us too.
            while let Some(until) = self.pause() {
                tokio::time::sleep_until(until).await;
            }
            Some(permit)
        };
        // Counted out of the queue however the wait ends (a timeout drops this future).
        let _out = Dequeued(queued);
        let permit = waited.await?;
        let in_flight = metrics::gauge!(crate::metrics::BACEN_IN_FLIGHT, "family" => self.family.name(), "side" => self.side);
        in_flight.increment(1.0);
        Some(Place {
            _permit: permit,
            in_flight,
        })
    }

    /// How long a request may wait for a place.
    pub(super) fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    /// The refusal of a request that waited too long.
    pub(super) fn busy(&self) -> Refusal {
        let retry = self
            .pause()
            .map_or(1, |u| u.saturating_duration_since(Instant::now()).as_secs() + 1);
        Refusal::new(
            Problem::BacenBusy,
            format!(
                "BACEN's limit of simultaneous requests was reached and no place freed within {} ms",
                self.queue_timeout.as_millis()
            ),
        )
        .retry_after(retry)
    }

    /// BACEN answered `429` with `Retry-After: seconds`: the side pauses until then.
    pub(super) fn pause_for(&self, seconds: u64) {
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
        tracing::warn!(seconds, "BACEN answered 429: this side pauses");
    }

    /// Until when the side is paused, if it is now.
    fn pause(&self) -> Option<Instant> {
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        match *p {
            Some(until) if until > Instant::now() => Some(until),
            _ => {
                *p = None;
                None
            }
        }
    }
}

/// A place among the requests under way; freed (and counted out) when dropped.
pub(super) struct Place {
    _permit: OwnedSemaphorePermit,
    in_flight: metrics::Gauge,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.in_flight.decrement(1.0);
    }
}

struct Dequeued(metrics::Gauge);

impl Drop for Dequeued {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// BACEN's `Retry-After` in seconds (delta-seconds; 1 when absent or not a number).
pub(super) fn retry_after(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn beyond_the_budget_requests_wait_then_are_refused_busy() {
        let b = Budget::new(Profile::Spi, "send", 1, Duration::from_millis(100));
        let first = b.enter().await.expect("a place");
        let Err(refused) = b.enter().await else {
            panic!("no place within the timeout");
        };
        assert_eq!(refused.problem, Problem::BacenBusy);
        assert!(
            refused
                .response()
                .headers()
                .contains_key(http::header::RETRY_AFTER)
        );
        drop(first);
        assert!(b.enter().await.is_ok(), "a freed place is taken");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_the_side_for_what_bacen_said() {
        let b = Budget::new(Profile::Spi, "send", 6, Duration::from_secs(5));
        b.pause_for(1);
        let started = Instant::now();
        let _p = b.enter().await.expect("after the pause");
        assert!(started.elapsed() >= Duration::from_secs(1));
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), 7);
        assert_eq!(retry_after(&http::HeaderMap::new()), 1);
    }
}
