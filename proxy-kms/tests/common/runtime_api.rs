//! The Lambda runtime API on loopback: `cargo lambda watch --only-lambda-apis` (cargo-lambda from
//! PyPI) emulates it and the Invoke endpoint, and the `bootstrap` binary is started as Lambda
//! starts it. Shared by `tests/runtime_api.rs` and `examples/kms_costs.rs` (included by path).
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where events are sent: the Invoke API of the function the emulator names `_`.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/_/invocations";

/// True when `cargo-lambda` can be run.
pub fn present() -> bool {
    Command::new("cargo-lambda")
        .args(["lambda", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A running emulator, killed when dropped.
pub struct Emulator {
    child: Child,
    /// Its port (runtime API under `/.rt`, Invoke at [`INVOKE_PATH`]).
    pub port: u16,
}

impl Emulator {
    /// Starts the emulator and waits (at most 30 s) until it listens.
    pub async fn start() -> Result<Self, String> {
        let port = free_port()?;
        let child = Command::new("cargo-lambda")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            // It reads the package's manifest (`cargo metadata`) though it builds nothing.
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cargo lambda watch (pip install cargo-lambda): {e}"))?;
        let emulator = Emulator { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the runtime API emulator did not start within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(emulator)
    }

    /// `binary` set up as Lambda starts a function of the SPI deployment: the runtime API, the
    /// function's variables, AWS at `aws_endpoint`.
    pub fn function(&self, binary: &std::path::Path, aws_endpoint: &str) -> Command {
        let mut c = Command::new(binary);
        c.env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}/.rt", self.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("PIX_SPI_PROXY", "true");
        c
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
