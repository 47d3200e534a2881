//! The proxy's metrics, one set of names for both flavours, through the `metrics` facade: the
//! Fargate flavour exports them as Prometheus text on `GET /metrics` of the health port, the
//! Lambda as CloudWatch Embedded Metric Format lines in its logs. Without a recorder installed
//! (tests, tools) every call is a no-op.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `pix_requests_total` | counter | `family`, `message_type`, `status` (answered to the bank) |
//! | `pix_bacen_responses_total` | counter | `family`, `status` (BACEN's; 429 and 503 apart) |
//! | `pix_exchange_seconds` | histogram | `family` |
//! | `pix_signer_seconds` | histogram | `family` |
//! | `pix_bacen_round_trip_seconds` | histogram | `family` |
//! | `pix_signature_verdicts_total` | counter | `family`, `valid`, `check` (the failed check) |
//! | `pix_signer_errors_total` | counter | `family`, `problem` |
//! | `pix_audit_records_total` | counter | `outcome` (`written`, `failed`) |
//! | `pix_schema_checks_total` | counter | `verdict` (`valid`, or why not: `schema_violation`, `schema_not_enabled`, …) |
//! | `pix_schema_seconds` | histogram | — (checking one message against BACEN's schema) |
//! | `pix_bacen_in_flight`, `pix_bacen_queued` | gauge | `family`, `side` (`send`, `read`) |
//! | `pix_certificate_days_left` | gauge | `role`, `serial` |
//! | `pix_consumer_handoff_seconds` | histogram | — (a stream page's delivery by BACEN to each message's hand-off to the bank) |
//! | `pix_consumer_messages_total` | counter | `message_type`, `valid` |
//! | `pix_consumer_duplicates_total`, `pix_consumer_handoff_failures_total` | counter | — |
//! | `pix_consumer_streams_open` | gauge | `reader` |
//! | `pix_bacen_secondary_in_use` | gauge | — (1 while ICOM's secondary channel is in use) |
//! | `pix_bacen_channel_moves_total` | counter | `to` (`secondary`, `primary`) |
//! | `pix_callers_refused_total` | counter | `reason` (`no-certificate`, `untrusted-certificate`, `expired-certificate`, `unauthenticated`, `unknown-caller`, `not-permitted`, `handshake`) |

use std::time::Duration;

use pix_xmldsig::dsig::Profile;

/// Requests answered to the bank.
pub const REQUESTS: &str = "pix_requests_total";
/// BACEN's answers by status.
pub const BACEN_RESPONSES: &str = "pix_bacen_responses_total";
/// Whole exchange, arrival to answer.
pub const EXCHANGE_SECONDS: &str = "pix_exchange_seconds";
/// Signing one request body.
pub const SIGNER_SECONDS: &str = "pix_signer_seconds";
/// BACEN's round trip.
pub const BACEN_ROUND_TRIP_SECONDS: &str = "pix_bacen_round_trip_seconds";
/// Verdicts on BACEN's signed answers.
pub const SIGNATURE_VERDICTS: &str = "pix_signature_verdicts_total";
/// Requests the signer could not sign.
pub const SIGNER_ERRORS: &str = "pix_signer_errors_total";
/// Audit records stored (or not).
pub const AUDIT_RECORDS: &str = "pix_audit_records_total";
/// Messages checked against BACEN's schemas, by verdict.
pub const SCHEMA_CHECKS: &str = "pix_schema_checks_total";
/// Time to check one message against its schema.
pub const SCHEMA_SECONDS: &str = "pix_schema_seconds";
/// Requests under way to BACEN.
pub const BACEN_IN_FLIGHT: &str = "pix_bacen_in_flight";
/// Requests waiting for a place.
pub const BACEN_QUEUED: &str = "pix_bacen_queued";
/// Whether BACEN accepted a TCP connection at the last probe (1) or not (0), by family.
pub const BACEN_REACHABLE: &str = "pix_bacen_reachable";
/// Days to expiry of a certificate in use.
pub const CERTIFICATE_DAYS_LEFT: &str = "pix_certificate_days_left";
/// Delivery by BACEN to hand-off to the bank, per message the consumer read.
pub const CONSUMER_HANDOFF_SECONDS: &str = "pix_consumer_handoff_seconds";
/// Messages the consumer handed off.
pub const CONSUMER_MESSAGES: &str = "pix_consumer_messages_total";
/// Messages the consumer recognised as delivered before.
pub const CONSUMER_DUPLICATES: &str = "pix_consumer_duplicates_total";
/// Hand-offs the destination refused (each retried).
pub const CONSUMER_HANDOFF_FAILURES: &str = "pix_consumer_handoff_failures_total";
/// Whether each reader holds an open stream.
pub const CONSUMER_STREAMS_OPEN: &str = "pix_consumer_streams_open";
/// Whether the relay sends and reads on ICOM's secondary channel (1) or its primary (0).
pub const BACEN_SECONDARY_IN_USE: &str = "pix_bacen_secondary_in_use";
/// Moves between ICOM's channels, by the channel moved to.
pub const BACEN_CHANNEL_MOVES: &str = "pix_bacen_channel_moves_total";
/// Callers refused (TLS handshake or callers policy), by reason.
pub const CALLERS_REFUSED: &str = "pix_callers_refused_total";

/// Describes every metric to the installed recorder: its unit (counts and seconds; the gauges have
/// none, CloudWatch's `None`) and its meaning. Call once after installing a recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, Unit::Count, "Requests answered to the bank");
    describe_counter!(BACEN_RESPONSES, Unit::Count, "BACEN's answers by status");
    describe_histogram!(
        EXCHANGE_SECONDS,
        Unit::Seconds,
        "Whole exchange, arrival to answer"
    );
    describe_histogram!(SIGNER_SECONDS, Unit::Seconds, "Signing one request body");
    describe_histogram!(BACEN_ROUND_TRIP_SECONDS, Unit::Seconds, "BACEN's round trip");
    describe_counter!(
        SIGNATURE_VERDICTS,
        Unit::Count,
        "Verdicts on BACEN's signed answers"
    );
    describe_counter!(SIGNER_ERRORS, Unit::Count, "Requests the signer could not sign");
    describe_counter!(AUDIT_RECORDS, Unit::Count, "Audit records stored (or not)");
    describe_counter!(
        SCHEMA_CHECKS,
        Unit::Count,
        "Messages checked against BACEN's schemas"
    );
    describe_histogram!(
        SCHEMA_SECONDS,
        Unit::Seconds,
        "Checking one message against its schema"
    );
    describe_gauge!(BACEN_IN_FLIGHT, "Requests under way to BACEN");
    describe_gauge!(BACEN_QUEUED, "Requests waiting for a place");
    describe_gauge!(
        BACEN_REACHABLE,
        "BACEN accepted a TCP connection at the last probe (1) or not (0)"
    );
    describe_gauge!(CERTIFICATE_DAYS_LEFT, "Days to expiry of a certificate in use");
    describe_counter!(CALLERS_REFUSED, Unit::Count, "Callers refused, by reason");
    describe_gauge!(
        BACEN_SECONDARY_IN_USE,
        "Whether ICOM's secondary channel is in use (1) or the primary (0)"
    );
    describe_counter!(
        BACEN_CHANNEL_MOVES,
        Unit::Count,
        "Moves between ICOM's channels, by the channel moved to"
    );
    describe_histogram!(
        CONSUMER_HANDOFF_SECONDS,
        Unit::Seconds,
        "Stream delivery to hand-off to the bank"
    );
    describe_counter!(CONSUMER_MESSAGES, Unit::Count, "Stream messages handed off");
    describe_counter!(
        CONSUMER_DUPLICATES,
        Unit::Count,
        "Stream messages delivered before"
    );
    describe_counter!(
        CONSUMER_HANDOFF_FAILURES,
        Unit::Count,
        "Hand-offs refused by the destination"
    );
    describe_gauge!(CONSUMER_STREAMS_OPEN, "Streams open, per reader");
}

/// The histogram buckets of the latencies, seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One exchange answered.
pub fn exchange(family: Profile, message_type: &str, status: u16, took: Duration) {
    let message_type = if message_type.is_empty() {
        "none"
    } else {
        message_type
    };
    metrics::counter!(REQUESTS, "family" => family.name(), "message_type" => message_type.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!(EXCHANGE_SECONDS, "family" => family.name()).record(took.as_secs_f64());
}

/// One answer from BACEN, `took` after the request left.
pub fn bacen(family: Profile, status: u16, took: Duration) {
    metrics::counter!(BACEN_RESPONSES, "family" => family.name(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(BACEN_ROUND_TRIP_SECONDS, "family" => family.name()).record(took.as_secs_f64());
}

/// One request body signed (or not), `took` long.
pub fn signed(family: Profile, took: Duration, problem: Option<&'static str>) {
    metrics::histogram!(SIGNER_SECONDS, "family" => family.name()).record(took.as_secs_f64());
    if let Some(problem) = problem {
        metrics::counter!(SIGNER_ERRORS, "family" => family.name(), "problem" => problem).increment(1);
    }
}

/// A bank's message checked against BACEN's schema, `took` long; `invalid` says why it failed.
pub fn schema_checked(took: Duration, invalid: Option<&'static str>) {
    metrics::histogram!(SCHEMA_SECONDS).record(took.as_secs_f64());
    metrics::counter!(SCHEMA_CHECKS, "verdict" => invalid.unwrap_or("valid")).increment(1);
}

/// A verdict on a signed answer of BACEN's; `check` is the failed check's code, when one failed.
pub fn verdict(family: Profile, failed: Option<&'static str>) {
    let check = failed.unwrap_or("none");
    let valid = if failed.is_none() { "true" } else { "false" };
    metrics::counter!(SIGNATURE_VERDICTS, "family" => family.name(), "valid" => valid, "check" => check)
        .increment(1);
}

/// An audit record stored, or not.
pub fn audit(written: bool) {
    let outcome = if written { "written" } else { "failed" };
    metrics::counter!(AUDIT_RECORDS, "outcome" => outcome).increment(1);
}

/// Requests under way and waiting, on one side of one family.
pub fn bacen_load(family: Profile, side: &'static str, in_flight: usize, queued: usize) {
    metrics::gauge!(BACEN_IN_FLIGHT, "family" => family.name(), "side" => side).set(in_flight as f64);
    metrics::gauge!(BACEN_QUEUED, "family" => family.name(), "side" => side).set(queued as f64);
}

/// Whether ICOM's secondary channel is in use.
pub fn secondary_in_use(on: bool) {
    metrics::gauge!(BACEN_SECONDARY_IN_USE).set(if on { 1.0 } else { 0.0 });
}

/// A move to ICOM's channel `to` (`secondary`, `primary`).
pub fn channel_moved(to: &'static str) {
    metrics::counter!(BACEN_CHANNEL_MOVES, "to" => to).increment(1);
    secondary_in_use(to == "secondary");
}

/// Days to expiry of a certificate in use.
pub fn certificate(role: &'static str, serial: &str, days_left: i64) {
    metrics::gauge!(CERTIFICATE_DAYS_LEFT, "role" => role, "serial" => serial.to_string())
        .set(days_left as f64);
}
