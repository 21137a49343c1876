//! Waiting for Ctrl-C or SIGTERM (used by the binaries of this crate).

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
