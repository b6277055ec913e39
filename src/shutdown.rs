//! Shutdown: SIGTERM or SIGINT -> a resolved future, handed to [`crate::daemon::run`].
//!
//! The daemon finishes the mail in hand (its ledger write) before it returns. A second
//! signal is left to the default handler of the runtime.

/// Resolves on SIGTERM or SIGINT. The handlers are installed when it is first polled.
pub async fn signal() {
    wait_for_signal().await;
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
