//! `pixsig`'s command line.

use clap::{Parser, Subcommand};
use pix_xmldsig::dsig::{self, Profile};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pixsig",
    version,
    about = "Sign, verify and canonicalize PIX (SPI / DICT) XML messages",
    after_help = "Exit codes: 0 success or valid signature, 1 invalid signature or refused message, \
                  2 usage error or unreadable input.\nFILE absent or '-': standard input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Sign a message and write the signed document to stdout.
    Sign {
        /// Signature profile: spi (ISO 20022, signature in AppHdr/Sgntr) or dict (enveloped).
        #[arg(long, value_parser = parse_profile)]
        profile: Profile,
        /// Private key, PEM (PKCS#8 or PKCS#1 RSA).
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// The key's certificate, PEM; its issuer and serial go into X509IssuerSerial.
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
        /// The message (default: stdin).
        file: Option<PathBuf>,
    },
    /// Verify a message's signature; says which check failed when it is invalid.
    Verify {
        /// Signature profile: spi or dict.
        #[arg(long, value_parser = parse_profile)]
        profile: Profile,
        /// A trusted signing certificate, PEM (repeatable; a file may hold several).
        #[arg(long, value_name = "CERT.pem", required = true)]
        trust: Vec<PathBuf>,
        /// Check certificate validity at this time (seconds since the epoch) instead of now.
        #[arg(long, value_name = "UNIX_SECONDS")]
        at: Option<i64>,
        /// The message (default: stdin).
        file: Option<PathBuf>,
    },
    /// Write the exclusive canonical form (xml-exc-c14n#) of the whole document to stdout.
    C14n {
        /// Keep comments (xml-exc-c14n#WithComments), as `xmllint --exc-c14n` does.
        #[arg(long)]
        with_comments: bool,
        /// The document (default: stdin).
        file: Option<PathBuf>,
    },
}

/// `--profile`: `spi` or `dict`.
fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse().map_err(|e: dsig::UnknownProfile| e.to_string())
}
