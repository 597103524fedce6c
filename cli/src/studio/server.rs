//! Listening and serving: 127.0.0.1 only, the URL with the token on stdout, an optional
//! browser, until Ctrl-C or SIGTERM.

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use persistence::postgres::{Error, shutdown_signal};

use super::StudioArgs;
use super::auth::Auth;
use super::routes::{self, App};
use super::target::Target;
use crate::error::CliError;

/// Connects, listens, prints the URL and serves until a signal.
pub(crate) async fn serve(args: &StudioArgs, target: Target) -> Result<ExitCode, CliError> {
    let config = &target.config;
    let mut options = config.connect_options();
    if target.read_only.is_some() {
        // Also the server refuses writes, whatever this program's code does.
        options = options.options([("default_transaction_read_only", "on")]);
    }
    // One direct connection first: a server that does not answer is then named by host and
    // port at once (the core's `Unreachable`), not reported as a pool timeout seconds later.
    let probe = persistence::postgres::connect_one(config).await?;
    let _ = sqlx::Connection::close(probe).await;
    let pool = config
        .pool_options()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(Error::from)?;

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .await
        .map_err(|e| {
            CliError::Io(
                format!(
                    "listening on 127.0.0.1:{} (pass --port 0 for any free port)",
                    args.port
                ),
                e,
            )
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::Io("reading the listening address".to_owned(), e))?;
    let auth = Auth::new(address.port());
    let url = format!("http://{address}/?token={}", auth.token());
    let app = Arc::new(App {
        pool: pool.clone(),
        auth: Arc::new(auth),
        read_only: target.read_only,
        database: config.database().to_owned(),
        server: config.endpoint(),
    });

    say!(
        "persistence studio for {}{}",
        config.redacted_url(),
        target
            .read_only
            .map(|reason| format!(" (read-only: {reason})"))
            .unwrap_or_default()
    );
    say!("open {url}");
    say!("press Ctrl-C to stop");
    if args.open {
        open_browser(&url);
    }

    let served = axum::serve(listener, routes::router(app))
        .with_graceful_shutdown(async {
            let _ = shutdown_signal().await;
        })
        .await;
    pool.close().await;
    served.map_err(|e| CliError::Io("serving the studio".to_owned(), e))?;
    say!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Asks the desktop to open `url`; a failure is a warning on stderr, never an error.
fn open_browser(url: &str) {
    let mut command = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        let mut command = Command::new("cmd");
        // `start`'s first quoted argument is a window title.
        command.args(["/C", "start", ""]);
        command
    } else {
        Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        // The opener returns at once; it is not waited for, so a slow browser holds nothing.
        Ok(child) => drop(child),
        Err(error) => {
            eprintln!("warning: could not open a browser ({error}); open the URL above by hand")
        }
    }
}
