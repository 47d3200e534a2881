//! The Lambda flavour of the PIX proxy: a `Signer` backed by AWS KMS and the API Gateway front end.
//!
//! Not built yet: this crate holds the place of DESIGN §2 in the workspace so that the layout and the
//! dependency rules (it may use `proxy-core`, nothing else of ours) are fixed from the start.
