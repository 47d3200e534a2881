//! What the service binaries share: JSON logs, and the signal that stops them.

/// Installs the log subscriber: one JSON object per event on standard error (CloudWatch Logs
/// reads the container's output; the metric filters in `infrastructure/` match fields such as
/// `metric`). The filter comes from `RUST_LOG`, else `default` (e.g. `"info"`).
pub fn init_json_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

/// Resolves on SIGTERM (ECS stopping the task, Lambda shutting the container down) or ctrl-c.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
