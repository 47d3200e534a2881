//! `proxy-hsm`: the Fargate flavour's service. `serve` reads the CloudHSM flavour's parameters
//! (SSM and Secrets Manager, or files) and serves until SIGTERM; `configure-cloudhsm` is the
//! container's first step; `keygen`, `csr` and `certificates` are the operator's tools for the keys on the token. (The demo and the
//! development server are `pix-dev`'s: nothing of them ships here.)

mod command;

use std::process::ExitCode;

use clap::Parser;
use command::{Cli, Command, cloudhsm, keys, serve};
use proxy_core::service::Threads;

fn main() -> ExitCode {
    let work = async {
        match Cli::parse().command {
            Command::Serve(s) => serve::run(s).await,
            Command::Consume { serve, consume } => command::consume::run(serve, consume).await,
            Command::Keygen(k) => keys::keygen(k).await,
            Command::Csr(c) => keys::csr(c).await,
            Command::Certificates(s) => serve::certificates(s).await,
            Command::ConfigureCloudhsm(a) => cloudhsm::configure(a).await,
        }
    };
    proxy_core::service::main("proxy-hsm", "warn", Threads::PerCore, work)
}
