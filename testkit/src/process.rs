//! A process a test started: killed when the test ends, passed or not; signalled; waited for.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    /// Sends it `SIGHUP` (the proxy re-reads its certificates).
    pub fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.0.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "SIGHUP sent");
    }
}

/// Waits (at most 60 s) until the health port at `check` answers `GET /ready` with 200.
pub async fn wait_ready(check: SocketAddr) {
    wait_ready_or_show(check, None).await;
}

/// [`wait_ready`], showing the process's `log` when it never gets ready.
pub async fn wait_ready_or_show(check: SocketAddr, log: Option<&std::path::Path>) {
    let started = Instant::now();
    while !matches!(
        crate::bank::call(check, "GET", "/ready", &[], vec![]).await,
        Ok((200, _, _))
    ) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the proxy did not start: {}",
            log.and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
