//! Waiting for the process to be asked to stop.

use crate::postgres::error::Error;

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what orchestrators send).
    Terminate,
}

/// Resolves when the process receives SIGINT or SIGTERM (on non-unix systems: Ctrl-C), with
/// the signal. Usable as a web server's graceful-shutdown future; then close the pool with
/// [`shutdown`](crate::postgres::shutdown) (the process-wide one) or
/// [`close`](crate::postgres::close).
///
/// # Example
/// ```no_run
/// use std::time::Duration;
/// use persistence::postgres::{Error, shutdown, shutdown_signal};
///
/// # async fn run() -> Result<(), Error> {
/// // ... serve requests until the signal, then give work in flight 10 s to finish:
/// shutdown_signal().await?;
/// shutdown(Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() -> Result<Signal, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).map_err(|e| Error::io("listening for SIGTERM", e))?;
        let mut interrupt =
            signal(SignalKind::interrupt()).map_err(|e| Error::io("listening for SIGINT", e))?;
        // Polled by hand rather than with `tokio::select!`: the core needs no proc macro.
        let received = std::future::poll_fn(|cx| {
            if terminate.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(Signal::Terminate)
            } else if interrupt.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(Signal::Interrupt)
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        Ok(received)
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::io("listening for Ctrl-C", e))?;
        Ok(Signal::Interrupt)
    }
}
