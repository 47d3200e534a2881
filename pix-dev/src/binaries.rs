//! The flavours' binaries as built by this workspace, for the tests that run them as processes
//! (as deployed: the binary, its flags, its environment). Cargo gives a test the path of its own
//! package's binaries only, so these are found beside the test executable, in the same profile's
//! directory, after `cargo build --workspace --all-targets` (once per test process): the same
//! build, with the same features, as `cargo test --workspace --all-targets`, so a no-op there, and
//! never a stale binary under `cargo test -p pix-dev`.

use std::path::PathBuf;
use std::process::Command;

/// The path of binary `bin` of package `package`, built in the profile this test runs in.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<bin>
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    let path = profile_dir.join(bin);
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !*built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "--workspace", "--all-targets"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --workspace --all-targets failed (for {package})"
        );
        *built = true;
    }
    path
}

/// The Fargate flavour's binary, `proxy-hsm`.
pub fn proxy_hsm() -> PathBuf {
    binary("proxy-hsm", "proxy-hsm")
}

/// The Lambda flavour's binary, `proxy-kms` (the `bootstrap` of the Lambda package).
pub fn proxy_kms() -> PathBuf {
    binary("proxy-kms", "proxy-kms")
}
