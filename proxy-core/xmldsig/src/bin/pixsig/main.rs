//! `pixsig`: sign, verify and canonicalize PIX messages from the command line, exactly as the
//! proxy does. Operators use `verify` to find out why BACEN refused a message.
//!
//! Exit codes: 0 success (valid), 1 invalid signature or refused message, 2 usage or unreadable input.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use pix_xmldsig::dsig::{self};
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::TrustStore;
use pix_xmldsig::xml::{self, C14nOptions, Limits};

mod cli;
use cli::{Cli, Command};

/// A failure and the exit code it maps to.
struct Failure(u8, String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("pixsig: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Sign {
            profile,
            key,
            cert,
            file,
        } => {
            let input = read_input(file.as_deref())?;
            let signer =
                SoftwareSigner::from_pem_files(&key, &cert).map_err(|e| Failure(2, e.to_string()))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| Failure(2, format!("cannot start runtime: {e}")))?;
            let signed = runtime
                .block_on(dsig::sign(&input, profile, &signer))
                .map_err(|e| Failure(1, e.to_string()))?;
            write_stdout(&signed)
        }
        Command::Verify {
            profile,
            trust,
            at,
            file,
        } => {
            let input = read_input(file.as_deref())?;
            let store = TrustStore::from_pem_files(&trust).map_err(|e| Failure(2, e.to_string()))?;
            let now = at.unwrap_or_else(pix_xmldsig::clock::unix_now);
            let ok = dsig::verify(&input, profile, &store, now)
                .map_err(|e| Failure(1, format!("invalid: {e}")))?;
            println!(
                "valid: {profile} signature by {} (issuer {}, serial {})",
                ok.subject, ok.issuer, ok.serial
            );
            Ok(())
        }
        Command::C14n { with_comments, file } => {
            let input = read_input(file.as_deref())?;
            let doc = xml::parse(&input, &Limits::default()).map_err(|e| Failure(1, e.to_string()))?;
            let mut out = Vec::with_capacity(input.len());
            xml::canonicalize_document(
                &doc,
                C14nOptions {
                    with_comments,
                    ..Default::default()
                },
                &[],
                &mut out,
            );
            write_stdout(&out)
        }
    }
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>, Failure> {
    match file {
        Some(p) if p != Path::new("-") => {
            std::fs::read(p).map_err(|e| Failure(2, format!("cannot read {}: {e}", p.display())))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure(2, format!("cannot read stdin: {e}")))?;
            Ok(buf)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Failure(2, format!("cannot write stdout: {e}")))
}
