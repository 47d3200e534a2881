//! pix-proxy on loopback, for developers (never shipped): each flavour's whole set-up (dev PKI,
//! BACEN simulator, proxy), the demo that plays a payment through it, the homologation
//! rehearsal, and what the `pix-dev` binary, the load examples and the end-to-end tests share.
//!
//! - [`binaries`]: the flavours' binaries, for tests that run them as processes;
//! - [`hsm`] and [`kms`]: the Fargate and Lambda flavours' set-ups and their demos;
//! - [`hsm_keys`]: the bank's keys on a throwaway SoftHSM token;
//! - [`demo`]: the bank's side of the demo, each step printed;
//! - [`rehearsal`]: BACEN's homologation roadmaps and capacity tests, with a report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod binaries;
pub mod demo;
pub mod hsm;
pub mod hsm_keys;
pub mod inbox;
pub mod kms;
pub mod rehearsal;

/// BACEN's SPI schemas beside the checkout (`../shared/fixtures/xsd`, catalog 5.13.1), when
/// there: the development simulator, the demo and the rehearsal enforce them as BACEN does.
pub fn bacen_schemas() -> Option<std::path::PathBuf> {
    let dir = testkit::tools::workspace().join("../shared/fixtures/xsd");
    dir.is_dir().then_some(dir)
}
