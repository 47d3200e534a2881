//! The Lambda flavour of the PIX proxy (seed 002): one function per message family behind a
//! private API Gateway, the signature key in AWS KMS ([`kms::KmsSigner`]), the mTLS key from
//! Secrets Manager, the audit trail to Firehose delivered before each invocation returns.
//!
//! - [`configured`]: the seeds' parameters and secret → one [`proxy_core::relay::Relay`] per
//!   container;
//! - [`handler`]: API Gateway REST proxy events ↔ the relay (lambda_http);
//! - [`emf`]: the metrics as CloudWatch Embedded Metric Format log lines;
//! - [`local`]: the same handler behind a plain HTTP listener (`proxy-kms serve`).

pub mod configured;
pub mod emf;
pub mod handler;
pub mod kms;
pub mod local;
