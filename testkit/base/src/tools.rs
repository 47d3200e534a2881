//! The policies every test shares: what to do when a reference tool is missing, and when
//! `../shared` (the outside fixtures) is not beside the checkout.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether missing tools fail the run: `PIX_REQUIRE_TOOLS=1`, set by `.ci/run`, which installs
/// them all, so that CI can never go green by skipping.
pub fn tools_required() -> bool {
    std::env::var("PIX_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Says that `what` cannot be used here and why: `SKIPPED: …` in the test output, or a failure
/// under `PIX_REQUIRE_TOOLS=1`.
pub fn unavailable(what: &str, why: &str) {
    assert!(
        !tools_required(),
        "{what} is required (PIX_REQUIRE_TOOLS=1): {why}"
    );
    eprintln!("SKIPPED: {what} cannot be used here: {why} (bash .ci/run installs it)");
}

/// True when `tool` runs with `probe` (e.g. `--version`); else [`unavailable`].
pub fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        unavailable(tool, "not installed, or it does not run");
    }
    ok
}

/// The workspace's root (tests, benches and examples only: a compile-time path).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/<relative>` when the shared folder is beside the checkout; else `None`, saying
/// SKIPPED. Files there came from outside: tests read them, the repository never holds them.
pub fn shared(relative: &str) -> Option<PathBuf> {
    let p = workspace().join("../shared").join(relative);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (../shared is not beside this checkout)",
            p.display()
        );
        None
    }
}

/// `../shared/fixtures/messages/<name>`, see [`shared`].
pub fn fixture(name: &str) -> Option<PathBuf> {
    shared(&format!("fixtures/messages/{name}"))
}

/// `../shared/fixtures/seed-simulator-pki`: the seeds' own simulator identity, see [`shared`].
pub fn seed_pki() -> Option<PathBuf> {
    shared("fixtures/seed-simulator-pki/mtls.cer").and_then(|p| p.parent().map(Path::to_path_buf))
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
/// True when a JDK is here (the harness runs as a single-file source program: its compiler must
/// be there too); else [`unavailable`].
pub fn have_java() -> bool {
    have("java", &["-version"]) && have("javac", &["-version"])
}

/// The JDK's `javax.xml.crypto` as a reference verifier and signer: `testkit/jdk/DsigHarness.java`
/// run as a single-file program with `args` (`sign|verify PROFILE …`).
pub fn jdk<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let harness = concat!(env!("CARGO_MANIFEST_DIR"), "/../jdk/DsigHarness.java");
    Command::new("java")
        .args([
            "--add-exports",
            "java.xml.crypto/org.jcp.xml.dsig.internal.dom=ALL-UNNAMED",
            harness,
        ])
        .args(args)
        .output()
        .expect("run java")
}

/// Every JSON line of every file under `dir` (audit records written by the file sink), in no
/// particular order; nothing when `dir` does not exist.
pub fn json_lines(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let text = std::fs::read_to_string(e.path()).expect("audit file");
                out.extend(text.lines().map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line")
                }));
            }
        }
    }
    out
}
