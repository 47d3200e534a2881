//! Helpers shared by proxy-hsm's tests: the project's samples, SoftHSM tokens, the seeds' test
//! identity, and moto's server (a real AWS-API emulator) on a free loopback port.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use proxy_hsm::softhsm::DevToken;

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples")
            .join(name),
    )
    .expect("sample")
}

fn required(what: &str, why: &str) {
    assert!(
        std::env::var("PIX_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{what} is required: {why}"
    );
    eprintln!("SKIPPED: {what} cannot be used here: {why} (bash .ci/run installs it)");
}

/// A fresh SoftHSM token, or `None` (saying why) where SoftHSM cannot be used.
pub fn softhsm() -> Option<DevToken> {
    DevToken::create().map_err(|why| required("SoftHSM", &why)).ok()
}

/// `../shared/fixtures/seed-simulator-pki`, when the shared folder is beside the checkout.
pub fn seed_pki() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/seed-simulator-pki");
    if p.join("mtls.cer").exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (../shared is not beside this checkout)",
            p.display()
        );
        None
    }
}

#[allow(unused_imports)]
pub use aws::moto;

pub mod aws;
