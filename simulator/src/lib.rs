//! A BACEN simulator (SPI/ICOM and DICT over mutual TLS) for the PIX proxy's tests.
//!
//! Not built yet: this crate holds the place of DESIGN §2 in the workspace. Until it lands, the
//! `pixsig` tool of `proxy-core` is what checks signatures the way BACEN does.
