//! The project's SPI samples against BACEN's published schemas (catalog 5.13.1, `../shared/
//! fixtures/xsd`), validated by libxml2 (`xmllint --schema`), the way BACEN validates what it
//! receives. A sample is unsigned (the proxy signs it), and `AppHdr/Sgntr`'s strict wildcard wants
//! an element of the XML-Signature namespace: an empty `ds:Signature` stands in, declared by a
//! stub schema written here (the signature itself is checked by the profiles, the JDK and
//! libxmlsec1 elsewhere). Skips, saying so, without `../shared`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use testkit::samples;
use testkit::tools::{have, shared};

const DSIG_STUB: &str = r#"<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/2000/09/xmldsig#" elementFormDefault="qualified">
  <xs:element name="Signature"><xs:complexType><xs:sequence><xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
</xs:schema>
"#;

/// xmllint's verdict on `message` against the schema of `namespace` in `xsd`: `Ok` or the errors.
fn validate(dir: &Path, xsd: &Path, namespace: &str, message: &str) -> Result<(), String> {
    std::fs::write(dir.join("dsig.xsd"), DSIG_STUB).unwrap();
    let wrapper = format!(
        r#"<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:pix-proxy:validation">
  <xs:import namespace="{namespace}" schemaLocation="{}"/>
  <xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="dsig.xsd"/>
</xs:schema>
"#,
        xsd.display()
    );
    std::fs::write(dir.join("schema.xsd"), wrapper).unwrap();
    let signed_place = message.replace(
        "<Sgntr/>",
        r#"<Sgntr><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></Sgntr>"#,
    );
    std::fs::write(dir.join("message.xml"), signed_place).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", "schema.xsd", "message.xml"])
        .current_dir(dir)
        .output()
        .expect("run xmllint");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_spi_samples_are_valid_against_bacens_schemas() {
    let Some(xsd) = shared("fixtures/xsd") else { return };
    if !have("xmllint", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, message, kind, version) in [
        ("pacs.008.xml", samples::PACS_008, "pacs.008", "1.16"),
        ("pacs.002.xml", samples::PACS_002, "pacs.002", "1.17"),
    ] {
        let namespace = format!("https://www.bcb.gov.br/pi/{kind}/{version}");
        assert!(message.contains(&namespace), "{name} declares {kind} {version}");
        assert!(message.contains(&format!("<MsgDefIdr>{kind}.spi.{version}</MsgDefIdr>")));
        let schema = xsd.join(format!("{kind}.spi.{version}.xsd"));
        validate(dir.path(), &schema, &namespace, message).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_validation_catches_what_bacen_would_refuse() {
    let Some(xsd) = shared("fixtures/xsd") else { return };
    if !have("xmllint", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema = xsd.join("pacs.008.spi.1.16.xsd");
    let namespace = "https://www.bcb.gov.br/pi/pacs.008/1.16";
    // The service level is mandatory in PmtTpInf.
    let without = samples::PACS_008.replace("<SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl>", "");
    let err = validate(dir.path(), &schema, namespace, &without).expect_err("refused");
    assert!(err.contains("PmtTpInf"), "{err}");
    // An unsigned message (an empty Sgntr) is refused by the strict wildcard.
    std::fs::write(dir.path().join("message.xml"), samples::PACS_008).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", "schema.xsd", "message.xml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "an empty Sgntr passes");
}
