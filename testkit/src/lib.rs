//! The test kit of pix-proxy: helpers the tests, benches and examples share, and nothing a
//! production binary ships. It depends on `proxy-core`, `pix-xmldsig` and the simulator, never
//! on a flavour (`proxy-hsm`, `proxy-kms`): the flavours' set-ups on loopback, the demo and the
//! rehearsal live in `pix-dev`.
//!
//! - from [`testbase`], the bottom of the kit: [`tools`]: the missing-tool policy (`SKIPPED`, or a failure under `PIX_REQUIRE_TOOLS=1`) and
//!   the `../shared` fixtures policy;
//! - [`samples`]: the project's sample messages, built in;
//! - [`test_pki`]: a throwaway PKI for signature tests (CA, signer, expired, rogue);
//! - [`aws`]: moto's server, clients of it, the audit pipeline on it, a fault proxy;
//! - [`softhsm`]: throwaway SoftHSMv2 tokens (the CloudHSM code path);
//! - [`lambda`]: API Gateway REST events and the Lambda runtime API emulator;
//! - [`bank`]: the bank's side as tests play it: plain HTTP calls and readers of the answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod aws;
pub mod bank;
pub mod lambda;
pub mod process;
pub mod softhsm;

pub use simulator::pki::DevPki;

pub use testbase::{samples, test_pki};

/// The policies every test shares ([`testbase::tools`]), and the signature layer's clock.
pub mod tools {
    pub use pix_xmldsig::clock::unix_now;
    pub use testbase::tools::*;
}
