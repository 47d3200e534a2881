//! XML-DSig for PIX: what a bank's security reviewer reads to know what the proxy signs and what
//! it accepts. No runtime, no network, no configuration: bytes in, bytes or a verdict out.
//!
//! # What it guarantees
//!
//! **Signing** ([`dsig::sign`]) inserts one `ds:Signature` into the message and leaves every other
//! byte as the bank wrote it. Both profiles sign RSASSA-PKCS1-v1_5 with SHA-256 over exclusive
//! c14n (without comments), SHA-256 digests, and name the key by `X509IssuerSerial` and
//! `X509Certificate` (DESIGN §3):
//! - [`dsig::Profile::Spi`] (ISO 20022, SPI): the signature goes in `AppHdr/Sgntr`, with three
//!   references — `KeyInfo` (by `Id`), `AppHdr` (`URI=""` with the enveloped transform) and the
//!   `Document` (no URI) — as BACEN's signer writes them;
//! - [`dsig::Profile::Dict`] (DICT): an enveloped signature, a direct child of the root, with two
//!   references — `KeyInfo` (by `Id`) and the whole document (`URI=""`, enveloped transform).
//!
//! The private key is never here: a [`signer::Signer`] (KMS, PKCS#11, or the software key of
//! tests and demos) receives the canonical `SignedInfo` and returns the signature value.
//!
//! **Verifying** ([`dsig::verify`]) fails closed: a message is accepted only when every check
//! passes, in this order, and the first failure is reported with its rule
//! ([`dsig::VerifyError::code`] is a stable name for it):
//! 1. the bytes parse under [`xml::Limits`]: no DOCTYPE, no entity but the five predefined ones,
//!    bounded size, depth, attributes and names (refused otherwise, never expanded);
//! 2. the profile's shape: exactly one `ds:Signature`, in its one allowed place (anti-wrapping),
//!    the message's own elements unique;
//! 3. the algorithms are exactly the profile's (no SHA-1, no other c14n, no XPath or XSLT
//!    transform);
//! 4. every reference points where the profile says, resolved without ambiguity (duplicate `Id`s
//!    refused);
//! 5. the key is in the [`trust::TrustStore`], found by issuer *name* (RFC 4514, compared as a name)
//!    and serial, and its certificate is valid now;
//! 6. every digest matches, then the RSA signature over the canonical `SignedInfo`.
//!
//! # Modules
//! - [`xml`]: bounded parsing and exclusive canonicalization (`c14n`);
//! - [`dsig`]: the two profiles, sign and verify;
//! - [`signer`]: the [`signer::Signer`] trait and the software signer;
//! - [`trust`]: certificates, the trust store, distinguished names;
//! - [`clock`] and [`ids`]: the time and the random ids every other crate uses.
//!
//! The `pixsig` binary (feature `cli`) signs and verifies files with this crate alone.

pub mod clock;
pub mod dsig;
pub mod ids;
pub mod signer;
pub mod trust;
pub mod xml;
