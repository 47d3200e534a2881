//! Throwaway SoftHSMv2 tokens for the demo and the tests: the same PKCS#11 code path as CloudHSM,
//! on a token made for the run and deleted after it (SoftHSM's default configuration).

use std::process::Command;

/// Debian's SoftHSMv2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token initialized for this run; deleted on drop.
pub struct DevToken {
    /// The token's label.
    pub label: String,
    /// Its user PIN (test material, random per run).
    pub pin: String,
}

impl DevToken {
    /// Initializes a fresh token, or says why SoftHSM cannot be used here.
    pub fn create() -> Result<DevToken, String> {
        if !std::path::Path::new(MODULE).exists() {
            return Err(format!("{MODULE} is not installed (Debian package softhsm2)"));
        }
        // softhsm2-util takes "the first free slot": two tests of one binary initializing at
        // once would take the same one. One at a time within the process.
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = INIT.lock().unwrap_or_else(|p| p.into_inner());
        let id = proxy_core::wire::new_id();
        let label = format!("pix-{}", &id[..12]);
        let pin = id[12..20].to_string();
        let so_pin = id[20..28].to_string();
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                &label,
                "--pin",
                &pin,
                "--so-pin",
                &so_pin,
            ])
            .output()
            .map_err(|e| format!("softhsm2-util: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "softhsm2-util --init-token failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(DevToken { label, pin })
    }
}

impl Drop for DevToken {
    fn drop(&mut self) {
        let _ = Command::new("softhsm2-util")
            .args(["--delete-token", "--token", &self.label])
            .output();
    }
}

/// A fresh SoftHSM token, or `None` (saying SKIPPED, or failing under `PIX_REQUIRE_TOOLS=1`)
/// where SoftHSM cannot be used.
pub fn softhsm() -> Option<DevToken> {
    DevToken::create()
        .map_err(|why| crate::tools::unavailable("SoftHSM", &why))
        .ok()
}
