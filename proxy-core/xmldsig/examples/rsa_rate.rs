//! The bare RSA-2048 PKCS#1 v1.5 SHA-256 sign rate of this machine, one core (aws-lc-rs), for
//! comparison with the proxy's throughput (`scripts/load.sh`).
//!
//! `cargo run --release -p proxy-core --example rsa_rate`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testbase::test_pki as pki;

use std::time::{Duration, Instant};

use pix_xmldsig::signer::SoftwareSigner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pki = pki::Pki::new();
    let signer = SoftwareSigner::from_pem_files(&pki.key, &pki.cert)?;
    let message = vec![b'x'; 1200];
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        signer.sign_now(&message)?;
        n += 1;
    }
    println!(
        "bare RSA-2048 sign: {:.0}/s on one core",
        f64::from(n) / started.elapsed().as_secs_f64()
    );
    Ok(())
}
