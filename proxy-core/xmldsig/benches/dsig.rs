//! `cargo bench -p proxy-core`: signing and verifying a pacs.008 against the bare RSA-2048
//! operations of aws-lc-rs in the same run, and c14n throughput (parsing included) on the
//! pacs.008 and on a ~1 MB document. The README quotes the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testbase::test_pki as pki;

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::{Signer, SoftwareSigner};
use pix_xmldsig::trust::{Certificate, TrustStore};
use pix_xmldsig::xml::{self, C14nOptions, Limits};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

const NOW: i64 = 1_795_000_000;

/// The pacs.008 fixture of `../shared`, when present.
fn fixture() -> Option<Vec<u8>> {
    let read = testbase::tools::fixture("pacs.008.xml").and_then(|p| std::fs::read(p).ok());
    if read.is_none() {
        eprintln!("benchmarking the project's own pacs.008 sample instead");
    }
    read
}

/// A ~1 MB message shaped like real ones: the sample pacs.008's credit transfer, indented as
/// in the sample, repeated in one `Document`.
fn one_megabyte() -> Vec<u8> {
    let sample = include_str!("../../../samples/pacs.008.xml");
    let a = sample.find("      <CdtTrfTxInf>").expect("sample");
    let b = sample.find("    </FIToFICstmrCdtTrf>").expect("sample");
    repeated(sample, a, b)
}

/// `text` with its bytes `a..b` repeated until the whole is about 1 MB.
fn repeated(text: &str, a: usize, b: usize) -> Vec<u8> {
    let mut s = String::from(&text[..a]);
    while s.len() < 1_000_000 {
        s.push_str(&text[a..b]);
    }
    s.push_str(&text[b..]);
    s.into_bytes()
}

/// The ~1 MB message of [`one_megabyte`] with every element in a prefix (`<p:Id>`), as some
/// banks write ISO 20022.
fn one_megabyte_prefixed() -> Vec<u8> {
    let text = String::from_utf8(one_megabyte()).expect("utf-8");
    let mut out = String::with_capacity(text.len() * 5 / 4);
    let mut rest = text.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..=lt]);
        rest = &rest[lt + 1..];
        let slash = usize::from(rest.starts_with('/'));
        out.push_str(&rest[..slash]);
        rest = &rest[slash..];
        if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str("p:");
        }
    }
    out.push_str(rest);
    out.replace("<p:Envelope xmlns=", "<p:Envelope xmlns:p=")
        .into_bytes()
}

/// A ~1 MB message in the fixture's layout (one element per line, four-space indent): its credit
/// transfer repeated.
fn one_megabyte_fixture_layout(fixture: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(fixture).ok()?;
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let a = line_start(text.find("<CdtTrfTxInf>")?);
    let b = line_start(text.find("</FIToFICstmrCdtTrf>")?);
    (a < b).then(|| repeated(text, a, b))
}

/// A ~1 MB document with almost no text: one element every 17 bytes, the worst case for c14n.
fn one_megabyte_dense() -> Vec<u8> {
    let mut s = String::from("<Batch xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\" xmlns:x=\"urn:x\">");
    let mut i = 0;
    while s.len() < 1_000_000 {
        s.push_str(&format!(
            "\n  <CdtTrfTxInf x:n=\"{i}\"><PmtId><EndToEndId>E99999010202611251000{i:011}</EndToEndId></PmtId>\
             <IntrBkSttlmAmt Ccy=\"BRL\">{i}.00</IntrBkSttlmAmt><Dbtr><Nm>Cliente {i} &amp; Cia — São Paulo</Nm></Dbtr>\
             <RmtInf><Ustrd>Pagamento &lt;{i}&gt;</Ustrd></RmtInf></CdtTrfTxInf>"
        ));
        i += 1;
    }
    s.push_str("\n</Batch>\n");
    s.into_bytes()
}

fn benches(c: &mut Criterion) {
    let pki = pki::Pki::new();
    let key_pem = std::fs::read(&pki.key).expect("key");
    let signer = SoftwareSigner::from_pem_files(&pki.key, &pki.cert).expect("signer");
    let trust = TrustStore::from_pem_files(&[&pki.cert]).expect("trust");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let fixture = fixture();
    let message = fixture
        .clone()
        .unwrap_or_else(|| include_bytes!("../../../samples/pacs.008.xml").to_vec());
    let signed = rt
        .block_on(dsig::sign(&message, Profile::Spi, &signer))
        .expect("sign");

    // The bare RSA operations, on a message the size of a canonical SignedInfo.
    let der = PrivateKeyDer::from_pem_slice(&key_pem).expect("pem");
    let PrivateKeyDer::Pkcs8(der) = der else {
        panic!("PKCS#8 expected")
    };
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("key");
    let rng = SystemRandom::new();
    let signed_info = vec![b'x'; 1200];
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &rng, &signed_info, &mut sig)
        .expect("sign");
    let cert = Certificate::from_pem_file(&pki.cert).expect("cert");
    let public =
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, cert.rsa_public_key()).expect("public key");

    let mut g = c.benchmark_group("sign");
    g.bench_function("rsa2048_bare", |b| {
        b.iter(|| {
            key.sign(&RSA_PKCS1_SHA256, &rng, black_box(&signed_info), &mut sig)
                .expect("sign")
        })
    });
    g.bench_function("pacs008_spi", |b| {
        b.iter(|| {
            rt.block_on(dsig::sign(black_box(&message), Profile::Spi, &signer))
                .expect("sign")
        })
    });
    g.bench_function("software_signer_only", |b| {
        b.iter(|| rt.block_on(signer.sign(black_box(&signed_info))).expect("sign"))
    });
    g.finish();

    let mut g = c.benchmark_group("verify");
    g.bench_function("rsa2048_bare", |b| {
        b.iter(|| public.verify_sig(black_box(&signed_info), &sig).expect("verify"))
    });
    g.bench_function("pacs008_spi", |b| {
        b.iter(|| dsig::verify(black_box(&signed), Profile::Spi, &trust, NOW).expect("verify"))
    });
    g.finish();

    let big = one_megabyte();
    let dense = one_megabyte_dense();
    let prefixed = one_megabyte_prefixed();
    let fixture_layout = fixture.as_deref().and_then(one_megabyte_fixture_layout);
    let mut docs = vec![
        ("pacs008", &message),
        ("one_megabyte", &big),
        ("one_megabyte_dense", &dense),
        ("one_megabyte_prefixed", &prefixed),
    ];
    match &fixture_layout {
        Some(doc) => docs.push(("one_megabyte_fixture_layout", doc)),
        None => eprintln!("no pacs.008 fixture: c14n/one_megabyte_fixture_layout not measured"),
    }
    let mut g = c.benchmark_group("c14n");
    for (name, doc) in docs {
        g.throughput(Throughput::Bytes(doc.len() as u64));
        let mut out = Vec::with_capacity(doc.len());
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let parsed = xml::parse(black_box(doc), &Limits::default()).expect("parse");
                xml::canonicalize_document(&parsed, C14nOptions::default(), &[], &mut out);
                out.len()
            })
        });
    }
    g.bench_function("parse_only_one_megabyte", |b| {
        b.iter(|| {
            xml::parse(black_box(&big), &Limits::default())
                .expect("parse")
                .root()
        })
    });
    g.finish();
}

criterion_group!(dsig_benches, benches);
criterion_main!(dsig_benches);
