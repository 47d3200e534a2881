//! A BACEN simulator for the PIX proxy's tests: SPI (ICOM) on 9191 and DICT on 8181 over mutual
//! TLS, a plain-HTTP control port on 7171 (`GET /check`, `POST /faults`), enforcing BACEN's rules
//! (DESIGN §6) rather than answering 200 to anything: every request signature is verified, only
//! whitelisted headers pass, ICOM's content types, stream and rate limits apply, and every answer
//! is signed.
//!
//! Start it in-process with [`Simulator::start`] (tests, `pix-dev demo`) or as the `simulator`
//! binary.

pub use proxy_core::bucket;
pub mod catalog;
pub mod clearing;
mod config;
mod control;
pub mod dict;
/// DICT's rate limits, as `dict::limits`.
pub use dict::limits as dict_limits;
pub mod faults;
mod find;
pub mod participants;
pub mod pki;
pub mod reconciliation;
mod server;
pub mod spi;
mod state;
pub mod tls;
pub mod wire;

pub use config::{Config, Family, StartError};
pub use server::{Dropped, Simulator};
pub(crate) use state::State;
pub use state::Stats;
