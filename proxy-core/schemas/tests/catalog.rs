//! The catalog against schemas written here (a small SPI-shaped one) and, when `../shared` is
//! there, against BACEN's own (catalog 5.13.1) with the project's samples.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use pix_schemas::{Catalog, Invalid, LoadError, Stage};
use testkit::samples;
use testkit::tools::shared;

/// An SPI-shaped schema: `AppHdr` with `MsgDefIdr` and `Sgntr` (BACEN's strict wildcard), and a
/// `Document` with one mandatory amount.
const TOY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="https://www.bcb.gov.br/pi/toys.001/1.2"
           xmlns="https://www.bcb.gov.br/pi/toys.001/1.2" elementFormDefault="qualified">
  <xs:element name="Envelope"><xs:complexType><xs:sequence>
    <xs:element name="AppHdr"><xs:complexType><xs:sequence>
      <xs:element name="MsgDefIdr" type="xs:string"/>
      <xs:element name="Sgntr"><xs:complexType><xs:sequence>
        <xs:any namespace="http://www.w3.org/2000/09/xmldsig#"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="Document"><xs:complexType><xs:sequence>
      <xs:element name="Amt"><xs:simpleType><xs:restriction base="xs:decimal"><xs:minExclusive value="0"/></xs:restriction></xs:simpleType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
"#;

fn toy(amount: &str, sgntr: &str) -> String {
    format!(
        "<Envelope xmlns=\"https://www.bcb.gov.br/pi/toys.001/1.2\">\n<AppHdr><MsgDefIdr>toys.001.spi.1.2</MsgDefIdr>{sgntr}</AppHdr>\n<Document><Amt>{amount}</Amt></Document></Envelope>"
    )
}

const SIGNATURE: &str = r#"<Sgntr><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature></Sgntr>"#;

fn toy_catalog() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toys.001.spi.1.2.xsd"), TOY).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a schema").unwrap();
    let catalog = Catalog::load(dir.path()).unwrap();
    (dir, catalog)
}

#[test]
fn a_valid_message_names_its_type_and_version() {
    let (_dir, catalog) = toy_catalog();
    let t = catalog
        .validate(toy("1.50", SIGNATURE).as_bytes(), Stage::Signed)
        .unwrap();
    assert_eq!(t.to_string(), "toys.001 1.2");
    assert_eq!(catalog.versions("toys.001").collect::<Vec<_>>(), ["1.2"]);
}

#[test]
fn violations_name_the_line_the_element_and_the_rule() {
    let (_dir, catalog) = toy_catalog();
    let err = catalog
        .validate(toy("-3", SIGNATURE).as_bytes(), Stage::Signed)
        .unwrap_err();
    let Invalid::Violations { violations, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(violations[0].line, Some(3), "{err}");
    assert_eq!(violations[0].element.as_deref(), Some("Amt"));
    assert!(violations[0].rule.contains("minExclusive"), "{err}");
    assert_eq!(err.code(), "schema_violation");
}

#[test]
fn the_signature_slot_is_empty_only_before_signing() {
    let (_dir, catalog) = toy_catalog();
    for unsigned in [toy("1", "<Sgntr/>"), toy("1", "")] {
        catalog
            .validate(unsigned.as_bytes(), Stage::BeforeSigning)
            .unwrap();
        let err = catalog.validate(unsigned.as_bytes(), Stage::Signed).unwrap_err();
        assert!(matches!(err, Invalid::Violations { .. }), "{err}");
    }
    // Anything but an XML-Signature element in Sgntr is refused at either stage.
    let foreign = toy("1", "<Sgntr><x:Sig xmlns:x=\"urn:x\"/></Sgntr>");
    assert!(
        catalog
            .validate(foreign.as_bytes(), Stage::BeforeSigning)
            .is_err()
    );
}

#[test]
fn a_version_outside_the_catalog_is_not_enabled() {
    let (_dir, catalog) = toy_catalog();
    let other = toy("1", SIGNATURE).replace("toys.001/1.2", "toys.001/1.3");
    let err = catalog.validate(other.as_bytes(), Stage::Signed).unwrap_err();
    assert_eq!(err.code(), "schema_not_enabled", "{err}");
    assert!(err.to_string().contains("toys.001 1.3"), "{err}");
    assert_eq!(
        catalog.validate(b"<a/>", Stage::Signed).unwrap_err().code(),
        "not_spi"
    );
    assert_eq!(
        catalog.validate(b"<a>", Stage::Signed).unwrap_err().code(),
        "not_xml"
    );
}

#[test]
fn the_validator_is_usable_from_any_thread() {
    let (_dir, catalog) = toy_catalog();
    let catalog = std::sync::Arc::new(catalog);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let catalog = catalog.clone();
            std::thread::spawn(move || {
                let amount = if i % 2 == 0 { "2" } else { "0" };
                catalog
                    .validate(toy(amount, SIGNATURE).as_bytes(), Stage::Signed)
                    .is_ok()
            })
        })
        .collect();
    let verdicts: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(verdicts, [true, false, true, false]);
}

#[test]
fn a_directory_that_is_not_a_catalog_says_why() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Catalog::load(dir.path()), Err(LoadError::Empty(_))));
    std::fs::write(
        dir.path().join("a.xsd"),
        TOY.replace("toys.001/1.2\"", "toys.001/1.2/x/y\""),
    )
    .unwrap();
    let err = Catalog::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("a.xsd"), "{err}");
    std::fs::write(dir.path().join("a.xsd"), TOY).unwrap();
    std::fs::write(dir.path().join("b.xsd"), TOY).unwrap();
    assert!(matches!(
        Catalog::load(dir.path()),
        Err(LoadError::Duplicate { .. })
    ));
    std::fs::remove_file(dir.path().join("b.xsd")).unwrap();
    std::fs::write(dir.path().join("a.xsd"), TOY.replace("xs:decimal", "xs:nothing")).unwrap();
    let err = Catalog::load(dir.path()).unwrap_err();
    assert!(matches!(err, LoadError::Schema { .. }), "{err}");
    assert!(Catalog::load(Path::new("/nonexistent/schemas")).is_err());
}

#[test]
fn the_samples_are_valid_against_bacens_schemas() {
    let Some(xsd) = shared("fixtures/xsd") else { return };
    let catalog = Catalog::load(&xsd).unwrap();
    let types: Vec<String> = catalog.types().map(|t| t.msg_def_idr()).collect();
    assert_eq!(types, ["pacs.002.spi.1.17", "pacs.008.spi.1.16"]);
    for sample in [samples::PACS_008, samples::PACS_002] {
        catalog.validate(sample.as_bytes(), Stage::BeforeSigning).unwrap();
    }
    let without = samples::PACS_008.replace("<SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl>", "");
    let err = catalog
        .validate(without.as_bytes(), Stage::BeforeSigning)
        .unwrap_err();
    let Invalid::Violations { violations, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(violations[0].element.as_deref(), Some("PmtTpInf"), "{err}");
    assert!(violations[0].rule.contains("SvcLvl"), "{err}");
}
