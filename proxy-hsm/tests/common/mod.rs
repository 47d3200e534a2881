//! Helpers shared by proxy-hsm's tests: the project's samples, SoftHSM tokens, the seeds' test
//! identity, and moto's server (a real AWS-API emulator) on a free loopback port.
#![allow(dead_code, missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proxy_hsm::softhsm::DevToken;

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples")
            .join(name),
    )
    .expect("sample")
}

fn required(what: &str, why: &str) {
    assert!(
        std::env::var("PIX_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{what} is required: {why}"
    );
    eprintln!("SKIPPED: {what} cannot be used here: {why} (bash .ci/run installs it)");
}

/// A fresh SoftHSM token, or `None` (saying why) where SoftHSM cannot be used.
pub fn softhsm() -> Option<DevToken> {
    DevToken::create().map_err(|why| required("SoftHSM", &why)).ok()
}

/// `../shared/fixtures/seed-simulator-pki`, when the shared folder is beside the checkout.
pub fn seed_pki() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/seed-simulator-pki");
    if p.join("mtls.cer").exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (../shared is not beside this checkout)",
            p.display()
        );
        None
    }
}

/// moto's server on a free loopback port; stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                required("moto_server (pip install 'moto[server]')", &e.to_string());
                return None;
            }
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
