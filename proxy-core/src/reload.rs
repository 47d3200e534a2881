//! BACEN's certificates re-read while the proxy runs. BACEN announces a change of its signing
//! certificate and switches at a set hour (Informe SPI; its public Q&A #465 and #193 show
//! participants caught by it): the bank adds the new certificate to `BcbSignatureCertificate`
//! (and `BcbMtlsCertificate` when the TLS side changes) beside the old one, and the proxy picks it
//! up without a restart — Fargate every `--refresh-seconds` and on `SIGHUP`, the Lambda at most
//! every five minutes between invocations.
//!
//! The bank's own certificates are re-read the same way: a certificate renewed for the key in use
//! (`SignatureCertificate`, `MtlsCertificate`, e.g. by a new deployment of the certificates
//! stack) is presented from the next exchange on; one of another key is refused (a new key is a
//! new label or key id, read at start).
//!
//! One driver for both flavours, [`Reloader`]: a long-running service feeds it its period and
//! `SIGHUP` ([`Reloader::run`]); the Lambda, frozen between invocations, asks it before each one
//! ([`Reloader::if_due`]).
//!
//! A value that does not parse is refused, logged naming the parameter, and the certificates in
//! use stay: the proxy is never left trusting nothing. Every change, and every start, logs each
//! certificate in use with its days to expiry (a warning under 30 days).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::names::{
    BCB_MTLS_CERTIFICATE, BCB_SIGNATURE_CERTIFICATE, MTLS_CERTIFICATE, SIGNATURE_CERTIFICATE,
};
use crate::config::{ConfigError, Parameters, Source};
use crate::relay::{BacenTrust, Relay};
use pix_xmldsig::trust::Certificate;

/// Re-reads BACEN's certificates from a [`Source`] into the relays that use them: now, when a
/// period has passed, or on a period and `SIGHUP`.
pub struct Reloader {
    source: Source,
    relays: Vec<Arc<Relay>>,
    every: Duration,
    last: Mutex<Instant>,
}

impl Reloader {
    /// A reloader of `relays` from `source`, at most every `every` (at least a second).
    pub fn new(source: Source, relays: Vec<Arc<Relay>>, every: Duration) -> Self {
        Reloader {
            source,
            relays,
            every: every.max(Duration::from_secs(1)),
            last: Mutex::new(Instant::now()),
        }
    }

    /// Re-reads and applies now; a refusal is logged, never returned.
    pub async fn now(&self) {
        // Stamped before the read: a failing source is tried again after a period, not at once.
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let relays: Vec<&Relay> = self.relays.iter().map(AsRef::as_ref).collect();
        apply_or_log(self.source.read().await, &relays);
        // Days left fall while nothing changes: a task running for months raises
        // `CertificateExpiring` from here, not only at start or at a change.
        for relay in &relays {
            check_expiry(relay);
        }
    }

    /// [`Reloader::now`] when the last read is a period old; otherwise nothing.
    pub async fn if_due(&self) {
        let due = self.last.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= self.every;
        if due {
            self.now().await;
        }
    }

    /// Every period, and at each `SIGHUP`, for as long as the process runs.
    pub async fn run(self: Arc<Self>) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(self.every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: re-reading BACEN's certificates");
                }
            }
            self.now().await;
        }
    }
}

/// Days to expiry under which a certificate in use is logged as a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Re-reads BACEN's certificates and the bank's own from `params` and applies them to `relays`
/// when they changed. Returns whether anything changed; an error names the parameter refused
/// (what it would have replaced stays in use).
pub fn apply(params: &Parameters, relays: &[&Relay]) -> Result<bool, ConfigError> {
    let new = params.bacen_trust()?;
    if new.signatures.is_empty() {
        return Err(ConfigError::Malformed {
            name: params.name(&BCB_SIGNATURE_CERTIFICATE),
            reason: "no certificate".into(),
        });
    }
    let mut changed = false;
    for relay in relays {
        changed |= relay.reload(&new).map_err(|e| ConfigError::Malformed {
            name: params.name(&BCB_MTLS_CERTIFICATE),
            reason: e.to_string(),
        })?;
    }
    if changed {
        tracing::warn!(
            signature_certificates = new.signatures.len(),
            tls_anchors = new.anchors.len(),
            "BACEN's trusted certificates changed"
        );
        log_bacen(&new);
    }
    // The bank's renewed certificates (the same keys): no restart either.
    let signature = params.certificate(&SIGNATURE_CERTIFICATE)?;
    let mtls = params.certificate(&MTLS_CERTIFICATE)?;
    let mut renewed = false;
    for relay in relays {
        renewed |= relay
            .recertify(&signature, &mtls)
            .map_err(|e| ConfigError::Malformed {
                name: params.name(if e.role == "signature" {
                    &SIGNATURE_CERTIFICATE
                } else {
                    &MTLS_CERTIFICATE
                }),
                reason: e.to_string(),
            })?;
    }
    if renewed {
        tracing::warn!("the bank's own certificates changed");
        log_certificate("signature", &signature, Log::All);
        log_certificate("mtls", &mtls, Log::All);
    }
    Ok(changed || renewed)
}

/// [`apply`], logging a refusal instead of returning it (the periodic and `SIGHUP` reloads).
pub fn apply_or_log(params: Result<Parameters, ConfigError>, relays: &[&Relay]) {
    match params.and_then(|p| apply(&p, relays)) {
        Ok(changed) => tracing::debug!(changed, "BACEN's certificates re-read"),
        Err(e) => tracing::error!(
            metric = "TrustReloadRefused",
            error = %e,
            "BACEN's certificates not reloaded; the ones in use stay"
        ),
    }
}

/// Logs every certificate `relay` uses — its signature and mTLS keys', BACEN's — with its days to
/// expiry: at start and at each change.
pub fn log_in_use(relay: &Relay) {
    each_in_use(relay, Log::All);
}

/// At each period: the days left of every certificate `relay` uses, as gauges, and a
/// `CertificateExpiring` warning for each under [`EXPIRY_WARNING_DAYS`] (nothing else logged).
pub fn check_expiry(relay: &Relay) {
    each_in_use(relay, Log::Expiring);
}

/// Which certificates [`log_certificate`] logs.
#[derive(Clone, Copy, PartialEq)]
enum Log {
    All,
    Expiring,
}

fn each_in_use(relay: &Relay, log: Log) {
    let (signature, mtls) = relay.own_certificates();
    log_certificate("signature", &signature, log);
    log_certificate("mtls", &mtls, log);
    each_bacen(&relay.trusted(), log);
}

fn log_bacen(trust: &BacenTrust) {
    each_bacen(trust, Log::All);
}

fn each_bacen(trust: &BacenTrust, log: Log) {
    for c in trust.signatures.certificates() {
        log_certificate("bacen-signature", c, log);
    }
    for der in &trust.anchors {
        match Certificate::from_der(der.as_ref()) {
            Ok(c) => log_certificate("bacen-tls-anchor", &c, log),
            Err(e) => tracing::warn!(error = %e, "a BACEN TLS anchor could not be read for the expiry log"),
        }
    }
}

fn log_certificate(role: &'static str, c: &Certificate, log: Log) {
    let days_left = c.days_left(crate::wire::unix_now());
    crate::metrics::certificate(role, c.serial(), days_left);
    if days_left < EXPIRY_WARNING_DAYS {
        tracing::warn!(
            metric = "CertificateExpiring",
            role,
            subject = c.subject(),
            serial = c.serial(),
            days_left,
            "certificate in use expires soon"
        );
    } else if log == Log::All {
        tracing::info!(
            role,
            subject = c.subject(),
            serial = c.serial(),
            days_left,
            "certificate in use"
        );
    }
}
