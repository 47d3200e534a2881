//! The relay runtime of pix-proxy, on top of the signature layer ([`pix_xmldsig`]): everything
//! between "a bank sent a request" and "BACEN's verified answer went back, audited", shared by both
//! flavours (Lambda and Fargate) and by nothing that knows Lambda, KMS or PKCS#11.
//!
//! The modules follow the path of a request (DESIGN §1):
//! - [`service`]: the one HTTP accept loop of every server of the workspace (hyper), graceful
//!   shutdown, the client certificate of each connection;
//! - [`route`]: the request line read once by the grammar of ICOM's and DICT's paths, which
//!   every later stage takes;
//! - [`callers`]: who calls (a client certificate, an IAM principal) and what the callers policy
//!   allows it;
//! - [`relay`]: sign the bank's XML, forward it over mutual TLS ([`tls`]), verify BACEN's answer;
//! - [`audit`]: the audit record every exchange leaves and its sinks (files; Firehose with a
//!   write-ahead spool); its Glue tables live in `infrastructure/`;
//! - [`wire`]: BACEN's wire formats (header rules, gzip, multipart, ids, timestamps), which the
//!   simulator shares;
//! - [`config`]: configuration by the parameter names of both flavours; [`certificates`] and
//!   [`reload`]: the certificates it names, re-read while the proxy runs;
//! - [`consumer`]: the receive half, the participant's stream handed to the bank before it is
//!   acknowledged;
//! - [`bucket`]: ICOM's token buckets (the simulator enforces them; the relay keeps to the
//!   secondary channel's);
//! - [`metrics`], [`retry`] (jittered backoff for AWS calls), [`csr`] (certificate requests).

pub mod audit;
pub mod bucket;
pub mod callers;
pub mod certificates;
pub mod config;
pub mod consumer;
pub mod csr;
pub mod metrics;
pub mod relay;
pub mod reload;
pub mod retry;
pub mod route;
pub mod service;
pub mod tls;
pub mod wire;
