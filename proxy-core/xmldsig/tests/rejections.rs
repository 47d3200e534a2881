//! Fail closed: every way a message can be wrong gets its own, named reason (library) and exit
//! code 1 with that reason (`pixsig verify`); usage errors exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use pix_xmldsig::dsig::{self, Profile, VerifyError};
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::{TrustError, TrustStore};
use pix_xmldsig::xml::{Limits, XmlError};

const NOW: i64 = 1_795_000_000; // 2026-11-18

struct Setup {
    pki: Pki,
    signer: SoftwareSigner,
    trust: TrustStore,
}

fn setup() -> Setup {
    let pki = Pki::new();
    let signer = SoftwareSigner::from_pem_files(&pki.key, &pki.cert).expect("signer");
    let trust = TrustStore::from_pem_files(&[&pki.cert]).expect("trust");
    Setup { pki, signer, trust }
}

fn sign(xml: &str, profile: Profile, signer: &SoftwareSigner) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let signed = rt
        .block_on(dsig::sign(xml.as_bytes(), profile, signer))
        .expect("sign");
    String::from_utf8(signed).expect("utf-8")
}

fn verify(xml: &str, profile: Profile, trust: &TrustStore) -> Result<dsig::Verified, VerifyError> {
    dsig::verify(xml.as_bytes(), profile, trust, NOW)
}

fn spi() -> String {
    spi_samples().remove(0).1
}

fn dict() -> String {
    dict_samples().remove(0).1
}

/// The signature element of a signed message, and the message without it.
fn split_signature(signed: &str) -> (String, String) {
    let start = signed.find("<ds:Signature").expect("signature");
    let end = signed.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    (
        signed[start..end].to_string(),
        format!("{}{}", &signed[..start], &signed[end..]),
    )
}

#[test]
fn a_valid_signature_names_its_signer_and_the_issuer_is_the_ca() {
    let t = setup();
    let signed = sign(&spi(), Profile::Spi, &t.signer);
    let ok = verify(&signed, Profile::Spi, &t.trust).expect("valid");
    assert!(ok.subject.contains("CN=spi.bancoexemplo.com.br"));
    // X509IssuerName carries the issuer (the CA), not the subject, with RFC 4514 escaping.
    let ca = pix_xmldsig::trust::Certificate::from_pem_file(&t.pki.path("ca.cer")).expect("CA");
    assert_eq!(
        pix_xmldsig::signer::Signer::certificate(&t.signer).issuer(),
        ca.subject()
    );
    assert!(
        ca.subject().contains("CN=AC Teste PIX\\, Autoridade v5"),
        "{}",
        ca.subject()
    );
    assert!(signed.contains(&format!(
        "<ds:X509IssuerName>{}</ds:X509IssuerName>",
        ca.subject()
    )));
    assert!(signed.contains(&format!(
        "<ds:X509SerialNumber>{}</ds:X509SerialNumber>",
        ok.serial
    )));
}

#[test]
fn wrapping_attempts_are_rejected() {
    let t = setup();
    let signed = sign(&spi(), Profile::Spi, &t.signer);

    // A second Document beside the signed one.
    let two_docs = signed.replacen("</Envelope>", "<Document><Evil/></Document></Envelope>", 1);
    let err = verify(&two_docs, Profile::Spi, &t.trust).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Structure("expected exactly one Document element, found 2".into())
    );

    // The signed Document moved inside a wrapper, a new one in its place.
    let wrapped = signed.replacen("<Document>", "<Wrapper><Document>", 1).replacen(
        "</Document>",
        "</Document></Wrapper>",
        1,
    );
    assert!(
        matches!(verify(&wrapped, Profile::Spi, &t.trust), Err(VerifyError::Structure(m)) if m.contains("not a child of the root"))
    );

    // The signature moved out of AppHdr/Sgntr into Document.
    let (sig, rest) = split_signature(&signed);
    let moved = rest.replacen("</Document>", &format!("{sig}</Document>"), 1);
    assert!(matches!(
        verify(&moved, Profile::Spi, &t.trust),
        Err(VerifyError::Placement(_))
    ));

    // A second signature.
    let doubled = signed.replacen("</Document>", &format!("{sig}</Document>"), 1);
    assert_eq!(
        verify(&doubled, Profile::Spi, &t.trust).unwrap_err(),
        VerifyError::SignatureCount(2)
    );

    // The KeyInfo reference pointed at another element.
    let elsewhere = signed.replacen("<ds:Reference URI=\"#", "<ds:Reference URI=\"#x", 1);
    assert!(matches!(
        verify(&elsewhere, Profile::Spi, &t.trust),
        Err(VerifyError::Reference { index: 1, .. })
    ));

    // The AppHdr reference turned into a same-document reference to Document.
    let retarget = signed
        .replacen("<ds:Reference URI=\"\">", "<ds:Reference URI=\"#doc\">", 1)
        .replacen("<Document>", "<Document Id=\"doc\">", 1);
    assert!(matches!(
        verify(&retarget, Profile::Spi, &t.trust),
        Err(VerifyError::Reference { index: 2, .. })
    ));

    // A duplicate of the KeyInfo Id elsewhere.
    let id = signed
        .split("<ds:KeyInfo Id=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("id")
        .to_string();
    let dup = signed.replacen("<Document>", &format!("<Document><Fake Id=\"{id}\"/>"), 1);
    let err = verify(&dup, Profile::Spi, &t.trust).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Reference { index: 1, reason, .. } if reason.contains("appears on 2 elements")),
        "{err}"
    );

    // DICT: the signature moved below the root.
    let d = sign(&dict(), Profile::Dict, &t.signer);
    let (sig, rest) = split_signature(&d);
    let moved = rest.replacen("<Entry>", &format!("<Entry>{sig}"), 1);
    assert!(matches!(
        verify(&moved, Profile::Dict, &t.trust),
        Err(VerifyError::Placement(_))
    ));
    // DICT: accepted anywhere among the root's children (the reference implementation appended it).
    let last = rest.replacen("</CreateEntryRequest>", &format!("{sig}</CreateEntryRequest>"), 1);
    verify(&last, Profile::Dict, &t.trust).expect("signature as last child of the root");
}

#[test]
fn the_wrong_profile_or_no_signature_is_rejected() {
    let t = setup();
    let signed = sign(&spi(), Profile::Spi, &t.signer);
    assert!(matches!(
        verify(&signed, Profile::Dict, &t.trust),
        Err(VerifyError::Placement(_))
    ));
    let d = sign(&dict(), Profile::Dict, &t.signer);
    assert!(matches!(
        verify(&d, Profile::Spi, &t.trust),
        Err(VerifyError::Structure(_))
    ));
    assert_eq!(
        verify(&spi(), Profile::Spi, &t.trust).unwrap_err(),
        VerifyError::SignatureCount(0)
    );
}

#[test]
fn unsupported_algorithms_are_rejected() {
    let t = setup();
    let signed = sign(&dict(), Profile::Dict, &t.signer);
    let cases = [
        (
            "xmldsig-more#rsa-sha256",
            "xmldsig#rsa-sha1",
            "ds:SignatureMethod",
        ),
        ("xmlenc#sha256", "xmldsig#sha1", "ds:DigestMethod"),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"",
            "ds:CanonicalizationMethod",
        ),
    ];
    for (from, to, element) in cases {
        let bad = signed.replacen(from, to, 1);
        assert_ne!(bad, signed);
        match verify(&bad, Profile::Dict, &t.trust) {
            Err(VerifyError::UnsupportedAlgorithm { element: e, .. }) => assert_eq!(e, element),
            other => panic!("{element}: {other:?}"),
        }
    }
    // A transform other than the profile's.
    let xpath = signed.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>",
        1,
    );
    assert!(
        matches!(verify(&xpath, Profile::Dict, &t.trust), Err(VerifyError::Reference { index: 2, reason, .. }) if reason.contains("transforms must be"))
    );
}

#[test]
fn untrusted_and_expired_certificates_are_rejected() {
    let t = setup();
    let rogue = SoftwareSigner::from_pem_files(&t.pki.rogue_key, &t.pki.rogue_cert).expect("rogue signer");
    let signed = sign(&dict(), Profile::Dict, &rogue);
    assert!(matches!(
        verify(&signed, Profile::Dict, &t.trust),
        Err(VerifyError::Trust(TrustError::Unknown { .. }))
    ));

    let expired =
        SoftwareSigner::from_pem_files(&t.pki.expired_key, &t.pki.expired_cert).expect("expired signer");
    let signed = sign(&dict(), Profile::Dict, &expired);
    let trust = TrustStore::from_pem_files(&[&t.pki.expired_cert]).expect("trust");
    assert!(matches!(
        verify(&signed, Profile::Dict, &trust),
        Err(VerifyError::Trust(TrustError::Expired { .. }))
    ));
    // Valid in 2019, when the certificate was.
    dsig::verify(signed.as_bytes(), Profile::Dict, &trust, 1_560_000_000).expect("valid in 2019");
    assert!(matches!(
        dsig::verify(signed.as_bytes(), Profile::Dict, &trust, 1_500_000_000),
        Err(VerifyError::Trust(TrustError::NotYetValid { .. }))
    ));

    // A key that does not match its certificate cannot even be loaded.
    let err = SoftwareSigner::from_pem_files(&t.pki.rogue_key, &t.pki.cert).unwrap_err();
    assert!(
        err.to_string().contains("does not match the certificate"),
        "{err}"
    );
}

#[test]
fn the_signing_key_is_found_by_issuer_name_and_serial_however_the_name_is_written() {
    let t = setup();
    let cert = pix_xmldsig::trust::Certificate::from_pem_file(&t.pki.cert).expect("cert");
    let now = 1_795_000_000;
    // As the certificate renders it (found without parsing) …
    let found = t
        .trust
        .lookup(cert.issuer(), cert.serial(), now)
        .expect("exact name");
    assert_eq!(found.certificate.serial(), cert.serial());
    // … and as another signer may write it: RDNs compared as parsed names, serial as a number.
    let rewritten = cert.issuer().replace("CN=", "cn=").replace(", O=", ",o=");
    assert_ne!(
        rewritten,
        cert.issuer(),
        "the test must exercise the parsing path"
    );
    let found = t
        .trust
        .lookup(&rewritten, &format!("00{}", cert.serial()), now)
        .expect("same name, written differently");
    assert_eq!(found.certificate.issuer(), cert.issuer());
    // The right name with another serial is someone else.
    assert!(matches!(
        t.trust.lookup(cert.issuer(), "1", now),
        Err(TrustError::Unknown { .. })
    ));
}

#[test]
fn hostile_xml_is_refused_by_the_parser() {
    let t = setup();
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
    assert_eq!(
        verify(bomb, Profile::Dict, &t.trust).unwrap_err(),
        VerifyError::Xml(XmlError::Doctype)
    );
    let external = "<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>";
    assert_eq!(
        verify(external, Profile::Dict, &t.trust).unwrap_err(),
        VerifyError::Xml(XmlError::Doctype)
    );
    let undeclared = "<r>&lol;</r>";
    assert_eq!(
        verify(undeclared, Profile::Dict, &t.trust).unwrap_err(),
        VerifyError::Xml(XmlError::Entity("lol".into()))
    );
    let in_attr = "<r a=\"&lol;\"/>";
    assert_eq!(
        verify(in_attr, Profile::Dict, &t.trust).unwrap_err(),
        VerifyError::Xml(XmlError::Entity("lol".into()))
    );

    let limits = Limits {
        max_bytes: 1000,
        max_depth: 5,
        max_attributes: 3,
    };
    let deep = "<a><b><c><d><e><f/></e></d></c></b></a>";
    assert!(matches!(
        dsig::verify_with_limits(deep.as_bytes(), Profile::Dict, &t.trust, NOW, &limits),
        Err(VerifyError::Xml(XmlError::TooDeep { limit: 5, .. }))
    ));
    let wide = "<a w=\"1\" x=\"2\" y=\"3\" z=\"4\"/>";
    assert!(matches!(
        dsig::verify_with_limits(wide.as_bytes(), Profile::Dict, &t.trust, NOW, &limits),
        Err(VerifyError::Xml(XmlError::TooManyAttributes { .. }))
    ));
    let large = format!("<a>{}</a>", "x".repeat(1000));
    assert!(matches!(
        dsig::verify_with_limits(large.as_bytes(), Profile::Dict, &t.trust, NOW, &limits),
        Err(VerifyError::Xml(XmlError::TooLarge { .. }))
    ));

    for (bad, what) in [
        ("<a><b></a>", "mismatched end tag"),
        ("<a/><b/>", "two roots"),
        ("text<a/>", "text outside root"),
        ("<p:a/>", "unbound prefix"),
        ("<a x=\"1\" x=\"2\"/>", "duplicate attribute"),
        (
            "<a xmlns:p=\"urn:p\" xmlns:q=\"urn:p\" p:x=\"1\" q:x=\"2\"/>",
            "duplicate expanded attribute",
        ),
        ("<a", "truncated"),
        ("", "empty"),
    ] {
        assert!(
            matches!(verify(bad, Profile::Dict, &t.trust), Err(VerifyError::Xml(_))),
            "{what} was accepted"
        );
    }
    assert!(matches!(
        dsig::verify(b"<a>\xff</a>", Profile::Dict, &t.trust, NOW),
        Err(VerifyError::Xml(XmlError::NotUtf8 { offset: 3 }))
    ));
    assert!(matches!(
        verify(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
            Profile::Dict,
            &t.trust
        ),
        Err(VerifyError::Xml(XmlError::UnsupportedDeclaration(_)))
    ));
}

#[test]
fn pixsig_verify_reports_the_failed_check_and_exit_codes() {
    let t = setup();
    let (key, cert, rogue) = (&t.pki.key, &t.pki.cert, &t.pki.rogue_cert);
    let signed = sign(&spi(), Profile::Spi, &t.signer);
    let path = t.pki.path("m.xml");
    std::fs::write(&path, signed.replacen("<Nm>", "<Nm>X", 1)).expect("write");
    let out = pixsig_verify("spi", cert, &path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("digest of reference 3 (Document) does not match"),
        "{stderr}"
    );

    // Untrusted: exit 1 with the issuer and serial that were looked for.
    std::fs::write(&path, &signed).expect("write");
    let out = pixsig_verify("spi", rogue, &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trusted certificate with issuer"));

    // Usage and unreadable input: exit 2.
    let missing = std::path::Path::new("/nonexistent");
    assert_eq!(
        pixsig(&["verify", "--profile", "spi", s(&path)]).status.code(),
        Some(2)
    );
    assert_eq!(pixsig_verify("xyz", cert, &path).status.code(), Some(2));
    assert_eq!(pixsig_verify("spi", cert, missing).status.code(), Some(2));
    assert_eq!(pixsig_verify("spi", missing, &path).status.code(), Some(2));
    assert_eq!(pixsig_sign("spi", missing, cert, &path).status.code(), Some(2));
    assert_eq!(pixsig(&["frobnicate"]).status.code(), Some(2));

    // A message that cannot be signed: exit 1 with the reason.
    let bad = t.pki.path("bad.xml");
    std::fs::write(&bad, "<Envelope><AppHdr/></Envelope>").expect("write");
    let out = pixsig_sign("spi", key, cert, &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected exactly one Document element, found 0"));

    // Keys never reach the output of a failure (key and certificate swapped).
    let out = pixsig_sign("spi", cert, key, &path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("PRIVATE KEY") && !stderr.contains("MII"),
        "{stderr}"
    );
}

#[test]
fn resigning_replaces_the_old_spi_signature() {
    let t = setup();
    let once = sign(&spi(), Profile::Spi, &t.signer);
    let twice = sign(&once, Profile::Spi, &t.signer);
    assert_eq!(twice.matches("<ds:Signature xmlns").count(), 1);
    verify(&twice, Profile::Spi, &t.trust).expect("re-signed message verifies");
    // DICT documents that already carry a signature are refused rather than signed twice.
    let d = sign(&dict(), Profile::Dict, &t.signer);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(
        rt.block_on(dsig::sign(d.as_bytes(), Profile::Dict, &t.signer))
            .is_err()
    );
}

/// Nothing panics on hostile input: thousands of random corruptions of signed messages (bytes
/// flipped, inserted, removed, truncated) through the parser, c14n and both verifiers. Each must
/// end in a verdict; almost all in a rejection.
#[test]
fn random_corruptions_never_panic() {
    let t = setup();
    let spi_signed = sign(&spi(), Profile::Spi, &t.signer);
    let dict_signed = sign(&dict(), Profile::Dict, &t.signer);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let specials = b"<>&;:\"'=/![]-?#x \r\n\t\xc3\xff";
    let mut rejected = 0;
    let rounds = 3000;
    for round in 0..rounds {
        let (base, profile) = if round % 2 == 0 {
            (&spi_signed, Profile::Spi)
        } else {
            (&dict_signed, Profile::Dict)
        };
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % bytes.len();
            let b = specials[(next() as usize) % specials.len()];
            match next() % 4 {
                0 => bytes[at] = b,
                1 => bytes.insert(at, b),
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at.max(1)),
            }
        }
        if dsig::verify(&bytes, profile, &t.trust, NOW).is_err() {
            rejected += 1;
        }
        if let Ok(doc) = pix_xmldsig::xml::parse(&bytes, &Limits::default()) {
            let mut out = Vec::new();
            pix_xmldsig::xml::canonicalize_document(
                &doc,
                pix_xmldsig::xml::C14nOptions {
                    with_comments: true,
                    ..Default::default()
                },
                &[],
                &mut out,
            );
        }
    }
    // A corruption inside ignorable white space can leave the signature valid; nearly all must fail.
    assert!(
        rejected > rounds * 9 / 10,
        "only {rejected} of {rounds} corruptions rejected"
    );
}
