//! `persistence studio`: a local web page to browse and edit the data of one database, like
//! `prisma studio`, and the way to look at the database a failed test kept.
//!
//! One file per job: [`target`] picks the database, [`server`] listens and serves,
//! [`auth`] checks the token, cookie and anti-forgery values, [`catalog`] reads tables,
//! columns and keys, [`queries`] builds every statement (identifiers quoted, values bound),
//! [`routes`] answers the requests and [`views`] renders the pages.
//!
//! Values are read as `column::text` (every PostgreSQL type has a text form) and written as
//! bound text cast to the column's own type (`$1::<format_type>`), so PostgreSQL parses the
//! input and its errors are shown as they are. Rows are addressed by their primary key;
//! tables without one, and views, are read-only. Writes check that the row still has the
//! values the page showed (an optimistic check on every column's text), each write in a
//! transaction of its own.
//!
//! The command is behind the cargo feature `studio` (on by default) so that library users
//! who turn default features off do not build a web stack.

use std::process::ExitCode;

use clap::Args;

use crate::error::CliError;

#[cfg(feature = "studio")]
mod auth;
#[cfg(feature = "studio")]
mod catalog;
#[cfg(feature = "studio")]
mod error;
#[cfg(feature = "studio")]
mod queries;
#[cfg(feature = "studio")]
mod routes;
#[cfg(feature = "studio")]
mod server;
#[cfg(feature = "studio")]
mod target;
#[cfg(feature = "studio")]
mod views;

/// The port `prisma studio` uses too.
pub(crate) const DEFAULT_PORT: u16 = 5555;

#[derive(Debug, Args)]
pub(crate) struct StudioArgs {
    /// The port to listen on, on 127.0.0.1 only; 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    pub(crate) port: u16,
    /// Allow no writes (a failed test's kept database is always read-only).
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Open the page in a browser (xdg-open, open or start); if that fails, only a warning.
    #[arg(long)]
    pub(crate) open: bool,
    /// Open this database on the URL's server instead of the URL's own database.
    #[arg(long, value_name = "NAME")]
    pub(crate) database: Option<String>,
}

/// Serves the studio until Ctrl-C.
#[cfg(feature = "studio")]
pub(crate) async fn run(args: StudioArgs, url: Option<&str>) -> Result<ExitCode, CliError> {
    let target = target::resolve(url, args.database.as_deref(), args.read_only)?;
    server::serve(&args, target).await
}

/// Without the `studio` feature the command only says how to get it.
#[cfg(not(feature = "studio"))]
pub(crate) async fn run(_args: StudioArgs, _url: Option<&str>) -> Result<ExitCode, CliError> {
    Err(CliError::Refused(
        "this persistence binary was built without the `studio` feature: reinstall it with \
         its default features, or with `--features studio`"
            .to_owned(),
    ))
}
