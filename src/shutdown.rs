//! Shutdown: SIGTERM or SIGINT -> a resolved future, handed to [`crate::daemon::run`].
//!
//! The daemon finishes the mail in hand (its ledger write) before it returns. A second
//! signal is left to the default handler of the runtime.

/// Resolves on SIGTERM or SIGINT. The handlers are installed when it is first polled.
#[cfg(unix)]
pub async fn signal() {
    use tokio::signal::unix::{self, SignalKind};
    match (
        unix::signal(SignalKind::terminate()),
        unix::signal(SignalKind::interrupt()),
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

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub async fn signal() {
    let _ = tokio::signal::ctrl_c().await;
}
