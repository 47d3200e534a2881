//! The bottom of pix-proxy's test kit, depending on no crate of the workspace: a throwaway test
//! PKI ([`test_pki`]), the project's sample messages built in ([`samples`]), and the policies
//! every test shares for reference tools and the outside fixtures of `../shared` ([`tools`]).
//! The signature crate's tests and benches use it alone; `testkit` re-exports it for the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod samples;
pub mod test_pki;
pub mod tools;
