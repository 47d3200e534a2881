//! Who may have messages signed with the bank's key, and for what (DESIGN §4, "Callers").
//!
//! The proxy signs whatever reaches it with the bank's ICP-Brasil key, so it must know who asks:
//!
//! - **who** ([`Caller`]): a client certificate from the bank's internal CA, verified in the TLS
//!   handshake of the Fargate flavour ([`tls`]); the IAM principal API Gateway authenticated with
//!   SigV4 in the Lambda flavour. The front end puts the caller in the request's extensions.
//! - **what for** ([`Need`]): the permission a request needs (SPI send, SPI stream read, DICT
//!   read, DICT write) and the participant (ISPB) it acts for.
//! - **allowed?** ([`Callers`]): the callers policy ([`Policy`], `--callers FILE` or the
//!   parameter `Callers`) maps each identity to its permissions per ISPB. With authentication on
//!   and no policy, nothing is allowed. Every refusal is counted by reason
//!   (`pix_callers_refused_total`) and logged as `metric=CallerRefused` (the stacks' alarm).

mod identity;
mod need;
mod policy;
pub mod tls;

pub use identity::Caller;
pub use need::{Need, REQUESTING_PARTICIPANT, Unclear};
pub use policy::{Policy, PolicyError};

/// What a caller may do; a policy grants each for a list of ISPBs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Send SPI messages: ICOM's `msgs` and the send catalog.
    SpiSend,
    /// Read the participant's SPI stream (and end it), and the stream's catalog.
    SpiStream,
    /// DICT queries: `GET`, and `keys/check` (a lookup sent as `POST`).
    DictRead,
    /// DICT changes: every other DICT request (entries, claims, refunds, …).
    DictWrite,
}

impl Permission {
    /// Every permission, in the order of the docs.
    pub const ALL: [Permission; 4] = [
        Permission::SpiSend,
        Permission::SpiStream,
        Permission::DictRead,
        Permission::DictWrite,
    ];

    /// The name a policy and a refusal use, e.g. `spi-send`.
    pub fn name(self) -> &'static str {
        match self {
            Permission::SpiSend => "spi-send",
            Permission::SpiStream => "spi-stream",
            Permission::DictRead => "dict-read",
            Permission::DictWrite => "dict-write",
        }
    }

    /// The permission of a policy's name.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Why a caller was refused: the label of `pix_callers_refused_total` and of the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBecause {
    /// No identity where one is required (no IAM principal in the Lambda's request context).
    Unauthenticated,
    /// An identity the policy does not name (or no policy at all).
    UnknownCaller,
    /// A caller of the policy without the permission for the request's ISPB.
    NotPermitted,
    /// The TLS handshake presented no client certificate.
    NoCertificate,
    /// A client certificate not from the bank's CA (or otherwise not verifiable).
    UntrustedCertificate,
    /// A client certificate outside its validity period.
    ExpiredCertificate,
    /// Any other failed TLS handshake.
    Handshake,
}

impl RefusedBecause {
    /// The label, e.g. `not-permitted`.
    pub fn label(self) -> &'static str {
        match self {
            RefusedBecause::Unauthenticated => "unauthenticated",
            RefusedBecause::UnknownCaller => "unknown-caller",
            RefusedBecause::NotPermitted => "not-permitted",
            RefusedBecause::NoCertificate => "no-certificate",
            RefusedBecause::UntrustedCertificate => "untrusted-certificate",
            RefusedBecause::ExpiredCertificate => "expired-certificate",
            RefusedBecause::Handshake => "handshake",
        }
    }
}

/// A caller refused, and what exactly to tell it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Why, as a metric label.
    pub because: RefusedBecause,
    /// The sentence for the problem document, naming the missing permission.
    pub detail: String,
}

/// How a front end treats its callers.
#[derive(Debug, Clone)]
pub enum Callers {
    /// Not authenticated: everyone may do everything. Said at start (a warning): only for a
    /// proxy whose network admits nothing but the bank's own services.
    Open,
    /// Authenticated; the policy says what each may do. `None`: nothing is allowed.
    Checked(Option<std::sync::Arc<Policy>>),
}

impl Callers {
    /// Whether `caller` may do what `need` says; the refusal is counted and logged.
    pub fn decide(&self, caller: &Caller, need: &Need) -> Result<(), Denied> {
        let decision = match self {
            Callers::Open => Ok(()),
            // The proxy's own parts (its stream consumer): only code in the process makes such a
            // caller (a request's extensions never come from the network).
            _ if matches!(caller, Caller::Service { .. }) => Ok(()),
            Callers::Checked(_) if matches!(caller, Caller::Unauthenticated) => Err(Denied {
                because: RefusedBecause::Unauthenticated,
                detail: format!(
                    "the caller is not authenticated; {} needs an authenticated caller",
                    need.describe()
                ),
            }),
            Callers::Checked(None) => Err(Denied {
                because: RefusedBecause::UnknownCaller,
                detail: format!(
                    "no callers policy is configured (Callers, --callers): nothing is allowed; {} needs permission {}",
                    need.describe(),
                    need.permission.name()
                ),
            }),
            Callers::Checked(Some(policy)) => policy.decide(caller, need),
        };
        if let Err(d) = &decision {
            refused(d.because, &caller.to_string(), &d.detail);
        }
        decision
    }

    /// Says at start how callers are treated (a warning when they are not authenticated).
    pub fn log_at_start(&self, family: &str) {
        match self {
            Callers::Open => tracing::warn!(
                family,
                "callers are not authenticated: any workload that reaches this port can have messages signed with the bank's key (--client-ca, docs/operations.md)"
            ),
            Callers::Checked(None) => tracing::warn!(
                family,
                "callers are authenticated but no callers policy is configured (Callers, --callers): every request will be refused"
            ),
            Callers::Checked(Some(p)) => {
                tracing::info!(
                    family,
                    callers = p.len(),
                    "callers authenticated and checked against the callers policy"
                )
            }
        }
    }
}

/// Counts and logs one refusal (`metric=CallerRefused`, the stacks' metric filter and alarm).
pub fn refused(because: RefusedBecause, caller: &str, detail: &str) {
    metrics::counter!(crate::metrics::CALLERS_REFUSED, "reason" => because.label()).increment(1);
    tracing::warn!(
        metric = "CallerRefused",
        reason = because.label(),
        caller,
        detail,
        "caller refused"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need() -> Need {
        Need {
            permission: Permission::SpiSend,
            ispb: Some("99999010".into()),
            participant_free: false,
        }
    }

    #[test]
    fn open_admits_everyone_and_checked_without_a_policy_admits_no_one() {
        let someone = Caller::Principal {
            arn: "arn:aws:iam::123456789012:role/payments".into(),
        };
        assert!(Callers::Open.decide(&Caller::Unauthenticated, &need()).is_ok());
        let closed = Callers::Checked(None);
        let d = closed.decide(&someone, &need()).unwrap_err();
        assert_eq!(d.because, RefusedBecause::UnknownCaller);
        assert!(d.detail.contains("spi-send"), "{}", d.detail);
        let d = closed.decide(&Caller::Unauthenticated, &need()).unwrap_err();
        assert_eq!(d.because, RefusedBecause::Unauthenticated);
        let consumer = Caller::Service {
            name: "consumer".into(),
        };
        assert!(closed.decide(&consumer, &need()).is_ok());
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        assert_eq!(Permission::from_name("spi"), None);
    }
}
