//! Signatures against independent implementations: what `pixsig` signs must verify in the JDK
//! (both profiles) and in libxmlsec1 (DICT); what the JDK signs must verify in `pixsig`, and stop
//! verifying when any one character of it changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::path::PathBuf;

/// Writes every sample (and the shared fixture, when present) of a profile signed by `pixsig`.
fn sign_all(pki: &Pki, profile: &str) -> Vec<(String, PathBuf, Vec<u8>)> {
    let (samples, fixture_name) = match profile {
        "spi" => (spi_samples(), "pacs.008.xml"),
        _ => (dict_samples(), "dict-create-claim-response.xml"),
    };
    let mut inputs: Vec<(String, Vec<u8>)> = samples
        .into_iter()
        .map(|(n, x)| (n.to_string(), x.into_bytes()))
        .collect();
    if let Some(f) = fixture(fixture_name) {
        inputs.push((fixture_name.to_string(), std::fs::read(f).expect("fixture")));
    }
    inputs
        .into_iter()
        .map(|(name, original)| {
            let input = pki.path(&format!("{profile}-{name}.in.xml"));
            std::fs::write(&input, &original).expect("write input");
            let signed = pixsig_ok(&[
                "sign",
                "--profile",
                profile,
                "--key",
                s(&pki.key),
                "--cert",
                s(&pki.cert),
                s(&input),
            ]);
            let out = pki.path(&format!("{profile}-{name}.signed.xml"));
            std::fs::write(&out, &signed).expect("write signed");
            (name, out, original)
        })
        .collect()
}

/// The signed bytes with the inserted `<ds:Signature …>…</ds:Signature>` cut out.
fn without_signature(signed: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(signed.to_vec()).expect("utf-8");
    let start = text.find("<ds:Signature").expect("a signature");
    let end = text.find("</ds:Signature>").expect("its end") + "</ds:Signature>".len();
    format!("{}{}", &text[..start], &text[end..]).into_bytes()
}

#[test]
fn pixsig_signatures_verify_in_pixsig_and_keep_the_original_bytes() {
    let pki = Pki::new();
    for profile in ["spi", "dict"] {
        for (name, path, original) in sign_all(&pki, profile) {
            let out = pixsig_ok(&["verify", "--profile", profile, "--trust", s(&pki.cert), s(&path)]);
            assert!(String::from_utf8_lossy(&out).starts_with("valid"), "{name}");
            let signed = std::fs::read(&path).expect("signed");
            let stripped = without_signature(&signed);
            // Where the slot already existed open, nothing else may change at all.
            let open_slot = profile == "dict" && name != "self-closing-root"
                || String::from_utf8_lossy(&original).contains("<Sgntr></Sgntr>");
            if open_slot {
                assert_eq!(
                    stripped, original,
                    "{profile}/{name}: bytes outside the signature changed"
                );
            } else {
                assert!(stripped.len() >= original.len(), "{profile}/{name}");
            }
        }
    }
}

#[test]
fn pixsig_signatures_verify_in_the_jdk() {
    if !have_java() {
        return;
    }
    let pki = Pki::new();
    for profile in ["spi", "dict"] {
        let signed = sign_all(&pki, profile);
        let mut args = vec!["verify", profile, s(&pki.cert)];
        args.extend(signed.iter().map(|(_, p, _)| s(p)));
        let out = jdk(&args);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "JDK rejected pixsig {profile} signatures:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            report.lines().filter(|l| l.starts_with("OK ")).count(),
            signed.len(),
            "{report}"
        );
    }
}

#[test]
fn pixsig_dict_signatures_verify_in_xmlsec1() {
    if !have_xmlsec1() {
        return;
    }
    let pki = Pki::new();
    for (name, path, _) in sign_all(&pki, "dict") {
        let out = std::process::Command::new("xmlsec1")
            .args([
                "--verify",
                "--pubkey-cert-pem",
                s(&pki.cert),
                "--id-attr:Id",
                "KeyInfo",
                s(&path),
            ])
            .output()
            .expect("run xmlsec1");
        assert!(
            out.status.success(),
            "xmlsec1 rejected {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Changes one character of `text` at the first match of `needle` (at `offset` within it).
fn tamper(text: &str, needle: &str, offset: usize) -> String {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in message"))
        + offset;
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'X' { b'Y' } else { b'X' };
    String::from_utf8(bytes).expect("ascii change keeps utf-8")
}

#[test]
fn jdk_signatures_verify_in_pixsig_and_any_change_breaks_them() {
    if !have_java() {
        return;
    }
    let pki = Pki::new();
    let cases: Vec<(&str, &str, String)> = spi_samples()
        .into_iter()
        .map(|(n, x)| ("spi", n, x))
        .chain(dict_samples().into_iter().map(|(n, x)| ("dict", n, x)))
        .collect();
    for (profile, name, xml) in cases {
        let input = pki.path(&format!("jdk-{profile}-{name}.xml"));
        let output = pki.path(&format!("jdk-{profile}-{name}.signed.xml"));
        std::fs::write(&input, &xml).expect("write");
        let out = jdk(&["sign", profile, s(&pki.key), s(&pki.cert), s(&input), s(&output)]);
        assert!(
            out.status.success(),
            "JDK could not sign {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pixsig_ok(&[
            "verify",
            "--profile",
            profile,
            "--trust",
            s(&pki.cert),
            s(&output),
        ]);

        let signed = std::fs::read_to_string(&output).expect("signed");
        // KeyInfo: a space after a comma leaves the issuer name equal as a name, so the key is
        // still found, but the KeyInfo digest no longer matches.
        let mut tampered = vec![("KeyInfo", signed.replacen(",O=", ", O=", 1), "reference 1")];
        // (needle, offset of the character to change, what it is, what the error must name)
        let edits = [
            ("<ds:SignatureValue>", 25, "SignatureValue", "SignatureValue"),
            ("<Nm>", 4, "Document text", "Document"),
            ("<BizMsgIdr>", 12, "AppHdr text", "AppHdr"),
            ("Ccy=\"", 5, "Document attribute", "Document"),
            ("x:ver=\"", 7, "prefixed attribute", "Document"),
            ("xmlns=\"https://www.bcb.gov.br/pi/", 30, "namespace", "AppHdr"),
            ("<Key>", 5, "DICT text", "document"),
            ("Key=\"", 5, "DICT attribute", "document"),
            ("d:v=\"", 5, "DICT prefixed attribute", "document"),
            ("xmlns=\"urn:example:default", 12, "DICT namespace", "document"),
            ("<Name>", 7, "non-ASCII text", "document"),
        ];
        for (needle, offset, what, reason) in edits {
            if signed.contains(needle) {
                tampered.push((what, tamper(&signed, needle, offset), reason));
            }
        }
        assert!(
            tampered.len() >= 3,
            "{profile}/{name}: too few tampering cases apply"
        );
        for (what, text, reason) in tampered {
            assert_ne!(text, signed, "{name}: tampering {what} changed nothing");
            let path = pki.path("tampered.xml");
            std::fs::write(&path, &text).expect("write");
            let out = pixsig_verify(profile, &pki.cert, &path);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{profile}/{name}: tampered {what} still verifies: {stderr}"
            );
            assert!(
                stderr.contains(reason),
                "{profile}/{name}: tampered {what}: {stderr}"
            );
        }
    }
}
