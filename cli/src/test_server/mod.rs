//! `persistence test-server status|keep|stop`: the servers the test harness, `dev`,
//! `generate` and `prepare` started, with their kept databases and `dev`'s databases;
//! keeping a test server past its idle grace (for its kept databases); and stopping them.
//!
//! The current project's servers come first ([`crate::project`]: `--target-dir DIR`, else
//! `PERSISTENCE_STATE_DIR`, else cargo's target directory of the crate or workspace the
//! current directory is in), then this user's servers of other projects, each shown with
//! its project's path ([`places`]).

mod places;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use persistence::ephemeral::control::{self, RunningServer};
use persistence::ephemeral::state_dir::StateDir;

use crate::error::CliError;
use places::{Place, Role};

/// What to do with the harness's servers.
#[derive(Debug, Subcommand)]
pub(crate) enum TestServerCommand {
    /// List the running servers: this project's (tests, `dev`, `generate`/`prepare`), then
    /// this user's servers of other projects; backend, URL, processes using them, idle grace,
    /// kept databases and `dev`'s databases with their URLs.
    Status(Locate),
    /// Keep this project's test server (and the databases kept after failed tests on it)
    /// past its idle grace, until `persistence test-server stop`.
    Keep(Locate),
    /// Stop this project's test server now (with --all, every server `status` lists),
    /// removing its data and kept databases; tests still using it fail.
    Stop {
        #[command(flatten)]
        locate: Locate,
        /// Stop every server listed by `status`: `dev`'s and other projects' too.
        #[arg(long, conflicts_with = "instance")]
        all: bool,
        /// Stop only the server with this instance id (as `status` shows it).
        instance: Option<String>,
    },
}

/// Where the current project's servers are recorded.
#[derive(Debug, Args)]
pub(crate) struct Locate {
    /// cargo's target directory the tests were built in [default: the one cargo uses for the
    /// crate or workspace of the current directory, CARGO_TARGET_DIR included];
    /// PERSISTENCE_STATE_DIR, if set, names the harness's state directory itself.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// A running server, and the place it was found in.
struct Found {
    server: RunningServer,
    place: Place,
}

pub(crate) async fn run(command: TestServerCommand) -> Result<ExitCode, CliError> {
    match command {
        TestServerCommand::Status(locate) => {
            let (harness, places) = places::places(&locate)?;
            let found = running(places).await;
            let here = found.iter().filter(|f| f.place.elsewhere.is_none()).count();
            if found.is_empty() {
                say!(
                    "no test server runs (looked in {} and where this user's other servers \
                     were started)",
                    harness.display()
                );
            } else if here == 0 {
                say!(
                    "no test server runs for this project (looked in {}); this user's servers \
                     of other projects:",
                    harness.display()
                );
                say!("");
            }
            for (i, found) in found.iter().enumerate() {
                if i > 0 {
                    say!("");
                }
                show::server(&found.server, &found.place);
            }
            Ok(ExitCode::SUCCESS)
        }
        TestServerCommand::Keep(locate) => {
            let (harness, places) = places::places(&locate)?;
            let ours: Vec<Found> = running(places)
                .await
                .into_iter()
                .filter(|f| f.place.elsewhere.is_none() && f.place.role == Role::Tests)
                .collect();
            let Some(found) = ours.first() else {
                return Err(CliError::Refused(format!(
                    "no test server runs for this project (looked in {}): there is nothing to \
                     keep; run the tests, then `persistence test-server keep` within their idle \
                     grace, or run them with PERSISTENCE_TEST_IDLE_GRACE=never",
                    harness.display()
                )));
            };
            let state = &found.server.state;
            StateDir::new(&found.server.state_dir)
                .files_of(&state.instance_id)
                .request_keep()
                .map_err(CliError::TestServer)?;
            let kept = found.server.kept.as_ref().map_or(0, Vec::len);
            say!(
                "keeping {} {} ({} on 127.0.0.1:{}) and its {kept} kept database(s) until \
                 `persistence test-server stop`",
                found.place.role.name(),
                state.instance_id,
                state.backend(),
                state.port
            );
            Ok(ExitCode::SUCCESS)
        }
        TestServerCommand::Stop {
            locate,
            all,
            instance,
        } => {
            let (harness, places) = places::places(&locate)?;
            let wanted: Vec<Found> = running(places)
                .await
                .into_iter()
                .filter(|f| match &instance {
                    Some(id) => f.server.state.instance_id == *id,
                    None => all || (f.place.elsewhere.is_none() && f.place.role == Role::Tests),
                })
                .collect();
            if wanted.is_empty() {
                return match instance {
                    Some(id) => Err(CliError::Refused(format!(
                        "no running server has the instance id `{id}`; `persistence \
                         test-server status` lists them"
                    ))),
                    None => {
                        say!("no test server runs (looked in {})", harness.display());
                        Ok(ExitCode::SUCCESS)
                    }
                };
            }
            for found in wanted {
                stop(found).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The servers running in `places`, in their order.
async fn running(places: Vec<Place>) -> Vec<Found> {
    let mut found = Vec::new();
    for place in places {
        if let Some(server) = control::running(&place.state_dir).await {
            found.push(Found { server, place });
        }
    }
    found
}

async fn stop(found: Found) -> Result<(), CliError> {
    let Found { server, place } = found;
    let what = format!(
        "{} {} ({} on 127.0.0.1:{})",
        place.role.name(),
        server.state.instance_id,
        server.state.backend(),
        server.state.port
    );
    let kept = server.kept.as_ref().map_or(0, Vec::len);
    let users = server.users.clone();
    let RunningServer {
        state_dir, state, ..
    } = server;
    tokio::task::spawn_blocking(move || control::stop(&state_dir, &state))
        .await
        .map_err(|e| CliError::Refused(format!("stopping {what} failed: {e}")))?
        .map_err(CliError::TestServer)?;
    let also = if users.is_empty() {
        String::new()
    } else {
        format!("; it was in use by pids {users:?}")
    };
    say!("stopped {what}: removed it with its data and {kept} kept database(s){also}");
    Ok(())
}
