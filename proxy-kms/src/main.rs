//! `proxy-kms`: the Lambda's `bootstrap` (no arguments, under the Lambda runtime), or
//! `serve` (the same handler over plain HTTP against any AWS endpoint); `csr` and
//! `certificates` are the operator's tools for the KMS key and the certificates.

mod command;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use command::Cli;
use proxy_core::service::Threads;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    // One thread: a Lambda container handles one invocation at a time, and cross-thread wake-ups
    // cost more CPU per message than they save (measured: 2.5 → 2.2 ms, `examples/kms_costs.rs`).
    proxy_core::service::main(
        "proxy-kms",
        "info",
        Threads::One,
        command::run::run(cli.command, started),
    )
}
