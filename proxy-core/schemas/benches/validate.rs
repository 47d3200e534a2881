//! `cargo bench -p pix-schemas`: checking a pacs.008 (and one of ten transactions) against
//! BACEN's schema (catalog 5.13.1, `../shared/fixtures/xsd`) beside, in the same run, the bare
//! RSA-2048 signature of aws-lc-rs and the proxy's whole signature of the same message; the cost
//! of `--schemas` is their ratio (docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use pix_schemas::{Catalog, Stage};
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::SoftwareSigner;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use testkit::{samples, test_pki as pki};

fn benches(c: &mut Criterion) {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        eprintln!("no ../shared/fixtures/xsd: nothing to measure");
        return;
    };
    let catalog = Catalog::load(&xsd).expect("catalog");
    let one = samples::PACS_008.as_bytes();
    let ten = samples::pacs_008_batch(10);
    catalog.validate(one, Stage::BeforeSigning).expect("valid");
    catalog
        .validate(ten.as_bytes(), Stage::BeforeSigning)
        .expect("valid");

    let pki = pki::Pki::new();
    let key_pem = std::fs::read(&pki.key).expect("key");
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(&key_pem).expect("pem") else {
        panic!("PKCS#8 expected")
    };
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("key");
    let rng = SystemRandom::new();
    let signed_info = vec![b'x'; 1200];
    let mut sig = vec![0; key.public_modulus_len()];

    let mut g = c.benchmark_group("schema");
    g.bench_function("rsa2048_bare", |b| {
        b.iter(|| {
            key.sign(&RSA_PKCS1_SHA256, &rng, black_box(&signed_info), &mut sig)
                .expect("sign")
        })
    });
    // The proxy's whole signature of the same message (c14n, digests, RSA), in software.
    let signer = SoftwareSigner::from_pem_files(&pki.key, &pki.cert).expect("signer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    g.bench_function("pacs008_sign", |b| {
        b.iter(|| {
            rt.block_on(dsig::sign(black_box(one), Profile::Spi, &signer))
                .expect("sign")
        })
    });
    g.bench_function("pacs008_validate", |b| {
        b.iter(|| {
            catalog
                .validate(black_box(one), Stage::BeforeSigning)
                .expect("valid")
        })
    });
    g.bench_function("pacs008_10tx_validate", |b| {
        b.iter(|| {
            catalog
                .validate(black_box(ten.as_bytes()), Stage::BeforeSigning)
                .expect("valid")
        })
    });
    g.finish();
}

criterion_group!(schema_benches, benches);
criterion_main!(schema_benches);
