//! The core of pix-proxy: everything between "a bank sent XML" and "BACEN got a signed message",
//! with no knowledge of Lambda, HTTP servers, KMS or PKCS#11.
//!
//! The modules follow the path of a message (DESIGN §1):
//! - [`xml`]: bounded parsing and exclusive canonicalization;
//! - [`dsig`]: the two XML-DSig profiles BACEN uses (SPI / ISO 20022 and DICT), sign and verify;
//! - [`signer`]: the [`signer::Signer`] trait that KMS, PKCS#11 and the software key plug into;
//! - [`trust`]: certificates and the trust store that finds a signer's key by issuer and serial;
//! - [`audit`]: the audit record every exchange leaves and its sinks (files; Firehose with a
//!   write-ahead spool); its Glue tables live in `infrastructure/`;
//! - [`config`]: configuration by the parameter names of both flavours;
//! - [`reload`]: BACEN's certificates re-read while the proxy runs;
//! - [`retry`]: jittered backoff for AWS calls that throttle.

pub mod audit;
pub mod certificates;
pub mod config;
pub mod csr;
pub mod dsig;
pub mod metrics;
pub mod relay;
pub mod reload;
pub mod retry;
pub mod service;
pub mod signer;
pub mod tls;
pub mod trust;
pub mod xml;
