//! The command line of `proxy-kms`: its subcommands and their flags.

pub mod run;

use std::net::{IpAddr, SocketAddr};

use clap::{Parser, Subcommand};
use pix_xmldsig::dsig::Profile;

#[derive(Parser)]
#[command(
    name = "proxy-kms",
    version,
    about = "PIX proxy, Lambda flavour: signs with AWS KMS, forwards over mTLS, verifies, audits to Firehose"
)]
pub struct Cli {
    /// What to do (under the Lambda runtime: `lambda`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// A PKCS#10 certificate request for the KMS key, signed by it (KMS `Sign`), PEM on stdout.
    Csr {
        /// The key's id, ARN or alias (the parameter SignatureKeyId).
        #[arg(long)]
        key_id: String,
        /// The certificate's subject, e.g. "CN=spi.banco.com.br,OU=PIX,O=Banco Exemplo S.A.,C=BR".
        #[arg(long)]
        subject: String,
        /// A subject alternative name (DNS name or IP address); repeatable.
        #[arg(long)]
        san: Vec<String>,
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
    },
    /// Check every certificate the parameters name: validity, and that SignatureCertificate holds
    /// the KMS key's public key and MtlsCertificate the secret's. Exit 1 naming any that does not.
    Certificates {
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
    },
    /// Run under the Lambda runtime (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda,
    /// Serve the Lambda handler over plain HTTP (local runs against moto's server or AWS).
    Serve {
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The family served (default: PIX_SPI_PROXY=true → spi, false → dict).
        #[arg(long, value_enum)]
        family: Option<Profile>,
        /// Connect to this address instead of resolving BACEN's host name (test networks).
        #[arg(long)]
        resolve: Option<IpAddr>,
        /// TLS name to verify BACEN's certificate against (else BcbTlsServerName, else the host).
        #[arg(long)]
        tls_server_name: Option<String>,
        /// A directory of BACEN's SPI schemas (else the parameter SpiSchemasDir): SPI messages
        /// are checked against them before they are signed, `422` when invalid.
        #[arg(long)]
        schemas: Option<std::path::PathBuf>,
    },
}
