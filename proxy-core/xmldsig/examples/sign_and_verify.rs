//! The first command of the README: makes a development PKI (a CA and a PSP signing key, in
//! `target/dev-pki/`), signs the project's sample messages (`samples/`) with the SPI and DICT
//! profiles, verifies them, and shows what a verifier says when one character is changed.
//!
//! `cargo run -p proxy-core --example sign_and_verify`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testbase::test_pki as pki;

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::{Signer, SoftwareSigner};
use pix_xmldsig::trust::TrustStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .ok_or("no workspace root")?;
    let out = root.join("target/dev-pki");
    std::fs::create_dir_all(out.join("signed"))?;

    let pki = pki::Pki::new();
    for (from, to) in [(&pki.key, "psp-sig.key"), (&pki.cert, "psp-sig.cer")] {
        std::fs::copy(from, out.join(to))?;
    }
    std::fs::copy(pki.path("ca.cer"), out.join("ca.cer"))?;
    let signer = SoftwareSigner::from_pem_files(&out.join("psp-sig.key"), &out.join("psp-sig.cer"))?;
    let trust = TrustStore::from_pem_files(&[out.join("psp-sig.cer")])?;
    println!("dev PKI in {}:", out.display());
    println!("  signing certificate {}", signer.certificate().subject());
    println!("  issued by           {}", signer.certificate().issuer());

    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    for (file, profile) in [
        ("pacs.008.xml", Profile::Spi),
        ("pibr.001.xml", Profile::Spi),
        ("dict-create-entry.xml", Profile::Dict),
    ] {
        let message = std::fs::read(root.join("samples").join(file))?;
        let started = Instant::now();
        let signed = runtime.block_on(dsig::sign(&message, profile, &signer))?;
        let signed_in = started.elapsed();
        let target = out.join("signed").join(file);
        std::fs::write(&target, &signed)?;
        let started = Instant::now();
        let verified = dsig::verify(&signed, profile, &trust, now)?;
        println!(
            "\n{file} ({profile}): signed in {signed_in:?} -> {}\n  verified in {:?}: signed by {}",
            target.display(),
            started.elapsed(),
            verified.subject
        );
        let tampered = String::from_utf8(signed)?
            .replacen("<Id>", "<Id>9", 1)
            .replacen("<Key>", "<Key>9", 1);
        match dsig::verify(tampered.as_bytes(), profile, &trust, now) {
            Ok(_) => return Err("a tampered message verified".into()),
            Err(e) => println!("  one character changed: rejected, {e}"),
        }
    }
    println!(
        "\nTry it with pixsig:\n  cargo run -q -p proxy-core --bin pixsig -- verify --profile spi --trust {} {}",
        out.join("psp-sig.cer").display(),
        out.join("signed/pacs.008.xml").display()
    );
    Ok(())
}
