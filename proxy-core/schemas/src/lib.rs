//! BACEN's SPI message schemas, as BACEN applies them.
//!
//! BACEN publishes an XML schema (XSD) for every message type and version of its SPI catalog
//! (the catalog package `spi.<version>.zip`, one file per version, e.g. `pacs.008.spi.1.16.xsd`
//! with target namespace `https://www.bcb.gov.br/pi/pacs.008/1.16`). It validates every message
//! it receives against the schema of the version the message declares — its envelope namespace —
//! and answers an invalid one, or one in a version its catalog does not enable ("Schema
//! desconhecido ou não habilitado para uso"), with an admi.002 on the sender's stream.
//!
//! [`Catalog::load`] reads such a directory; [`Catalog::validate`] says which type and version a
//! message declares and whether it is valid, with every [`Violation`] libxml2 found (line, element,
//! rule). The validator only reads: the bytes a caller signs or forwards are never re-serialized.
//!
//! `AppHdr/Sgntr` holds exactly one element of the XML-Signature namespace (a strict wildcard in
//! every SPI schema). The signature's own structure is checked by `pix-xmldsig`'s SPI profile,
//! which is stricter than the W3C schema, so the catalog declares `ds:Signature` with any content;
//! and a message checked [`Stage::BeforeSigning`] may leave `Sgntr` empty, where the signature
//! will go.
//!
//! The validator is libxml2 (feature `libxml2`, on by default): the reference implementation the
//! project's tests already compare with, and the library BACEN's own tooling guides point to
//! (docs/decisions/009-schema-validator.md). A build without it can still name a message's type
//! and version, and [`Catalog::load`] says it cannot check schemas.

mod catalog;
#[cfg(feature = "libxml2")]
mod libxml2;
mod message;

pub use catalog::{Catalog, LoadError};
pub use message::{Invalid, MessageType, NAMESPACE_BASE, Stage, Violation};
