//! The development and test kit of pix-proxy: everything the demos, tests, benches and examples
//! share, and nothing a production binary ships. It is a dev-dependency of every crate of the
//! workspace (and the home of the `pix-dev` binary: the demo and the development server).
//!
//! - [`tools`]: the missing-tool policy (`SKIPPED`, or a failure under `PIX_REQUIRE_TOOLS=1`) and
//!   the `../shared` fixtures policy;
//! - [`samples`]: the project's sample messages, built in;
//! - [`test_pki`]: a throwaway PKI for signature tests (CA, signer, expired, rogue);
//! - [`aws`]: moto's server, clients of it, the audit pipeline on it, a fault proxy;
//! - [`softhsm`]: throwaway SoftHSMv2 tokens (the CloudHSM code path);
//! - [`lambda`]: API Gateway REST events and the Lambda runtime API emulator;
//! - [`bank`]: the bank's side: plain HTTP calls, the demo's conversation;
//! - [`hsm`] and [`kms`]: each flavour's whole set-up on loopback (dev PKI, simulator, proxy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod aws;
pub mod bank;
pub mod hsm;
pub mod kms;
pub mod lambda;
pub mod rehearsal;
pub mod samples;
pub mod softhsm;
pub mod test_pki;
pub mod tools;

pub use simulator::pki::DevPki;
