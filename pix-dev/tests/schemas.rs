//! Every pacs.008 and pacs.002 the demo's and the rehearsal's banks build is valid against
//! BACEN's schemas (catalog 5.13.1, `../shared/fixtures/xsd`), checked as the proxy checks
//! before it signs. (The simulator's own messages: `simulator/tests/schemas.rs`.) Skips, saying
//! so, without `../shared`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pix_dev::demo;
use pix_dev::rehearsal::messages::{Status, Versions};
use pix_schemas::{Catalog, Stage};
use proxy_core::wire::spi_id;

fn catalog() -> Option<Catalog> {
    testkit::tools::shared("fixtures/xsd").map(|dir| Catalog::load(&dir).unwrap())
}

fn valid(catalog: &Catalog, what: &str, message: &str) {
    if let Err(e) = catalog.validate(message.as_bytes(), Stage::BeforeSigning) {
        panic!("{what}: {e}\n{message}");
    }
}

#[test]
fn the_demos_messages_are_valid() {
    let Some(catalog) = catalog() else { return };
    let e2e = spi_id('E', "99999010");
    valid(
        &catalog,
        "pacs.008",
        &demo::payment_message(&e2e, &spi_id('M', "99999010")),
    );
    valid(
        &catalog,
        "pacs.002",
        &demo::status_message(&spi_id('M', "99999020"), &e2e),
    );
}

#[test]
fn the_rehearsals_messages_are_valid() {
    let Some(catalog) = catalog() else { return };
    let versions = Versions::samples();
    let e2e = spi_id('E', "99999010");
    let pacs008 = versions.pacs008("99999010", "99999020", &spi_id('M', "99999010"), &e2e, "12.34");
    valid(&catalog, "pacs.008", &pacs008);
    let accepted = Status::of("99999020", &e2e, "ACSP");
    valid(&catalog, "pacs.002 ACSP", &versions.pacs002(&accepted));
    for code in ["AC03", "AM18"] {
        let rejected = Status {
            reason: Some(code.into()),
            ..Status::of("99999020", &e2e, "RJCT")
        };
        valid(&catalog, "pacs.002 RJCT", &versions.pacs002(&rejected));
    }
    let refund = Status {
        instruction: Some(spi_id('D', "99999020")),
        ..Status::of("99999010", &e2e, "ACSP")
    };
    valid(&catalog, "pacs.002 of a refund", &versions.pacs002(&refund));
}

#[test]
fn a_message_that_breaks_the_schema_is_caught() {
    let Some(catalog) = catalog() else { return };
    let versions = Versions::samples();
    let pacs008 = versions
        .pacs008(
            "99999010",
            "99999020",
            &spi_id('M', "99999010"),
            &spi_id('E', "99999010"),
            "12.34",
        )
        .replace("<Purp><Cd>IPAY</Cd></Purp>", "");
    assert!(
        catalog
            .validate(pacs008.as_bytes(), Stage::BeforeSigning)
            .is_err()
    );
}
