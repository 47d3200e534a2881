//! The Fargate flavour of the PIX proxy: a `Signer` backed by a PKCS#11 token (CloudHSM) and the
//! hyper front end.
//!
//! Not built yet: this crate holds the place of DESIGN §2 in the workspace so that the layout and the
//! dependency rules (it may use `proxy-core`, and the simulator for its `demo` only) are fixed.
