//! The throwaway servers `dev`, `generate` and `prepare` start: the test harness's backends
//! (`PERSISTENCE_TEST_BACKEND` and its friends, read as for tests) in a state directory of the
//! project's, with no idle grace, so that a server goes as soon as its command lets go of it.
//!
//! Whether this command has the docker backend is a cargo feature of its own (`docker`, on
//! by default): without it, asking for docker is an error that says how to install it with
//! docker, and `auto`'s "no backend" error says the same.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persistence::ephemeral::platform::process_alive;
use persistence::ephemeral::state_dir::StateDir;
use persistence::ephemeral::{self, BackendKind, EphemeralError, IdleGrace, Server, Settings};

use crate::error::CliError;
use crate::project::Project;

/// The command that installs this tool with the docker backend.
pub(crate) const INSTALL_WITH_DOCKER: &str =
    "cargo install --locked persistence-pg-cli --features docker";

/// Whether this build has the docker backend.
const HAS_DOCKER: bool = cfg!(feature = "docker");

/// The harness's settings from the environment, for a server in `state_dir` without grace.
pub(crate) fn settings(state_dir: PathBuf) -> Result<Settings, CliError> {
    for_command(Settings::from_env().map_err(CliError::Server)?, state_dir)
}

/// `settings` moved to `state_dir`, without grace; docker refused if this build has none.
fn for_command(mut settings: Settings, state_dir: PathBuf) -> Result<Settings, CliError> {
    settings.state_dir = state_dir;
    settings.idle_grace = IdleGrace::After(Duration::ZERO);
    if settings.backend == BackendKind::Docker && !HAS_DOCKER {
        return Err(CliError::Refused(without_docker(
            "PERSISTENCE_TEST_BACKEND=docker asks for the docker backend",
        )));
    }
    Ok(settings)
}

/// Starts (or joins) the server of `settings` and records it for `project`, so that
/// `persistence test-server` finds it from anywhere.
pub(crate) async fn start(settings: Settings, project: &Project) -> Result<Server, CliError> {
    let state_dir = settings.state_dir.clone();
    let server = ephemeral::server_with(settings)
        .await
        .map_err(|error| match error {
            EphemeralError::NoBackend { .. } if !HAS_DOCKER => CliError::Refused(format!(
                "no development server: {}",
                without_docker(&error.to_string())
            )),
            error => CliError::Server(error),
        })?;
    if server.backend() != BackendKind::External {
        ephemeral::registry::record(&state_dir, Some(&project.root));
    }
    Ok(server)
}

/// How long to wait, after letting go of a server, for its supervisor to remove it.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

/// What became of a server its command let go of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LetGo {
    /// Stopped and deleted with its data, this long after it was let go.
    Removed(Duration),
    /// Another process still uses it (or it outlasted the wait): it goes when that one ends.
    StillUsed,
}

/// Lets go of `server`, started in `state_dir` by [`start`], and waits until its supervisor
/// has stopped it and deleted its data, so that nothing of it outlives the command. With no
/// idle grace that is at once, unless another command of the project still uses it: then
/// there is nothing to wait for.
pub(crate) async fn let_go(server: Server, state_dir: &Path) -> LetGo {
    let instance = server.instance().to_owned();
    let supervisor = StateDir::new(state_dir)
        .server()
        .filter(|state| state.instance_id == instance)
        .map(|state| state.supervisor_pid);
    drop(server);
    let started = Instant::now();
    let state_dir = state_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let dir = StateDir::new(&state_dir);
        let me = std::process::id();
        loop {
            let recorded = dir
                .server()
                .is_some_and(|state| state.instance_id == instance);
            if !recorded && !supervisor.is_some_and(process_alive) {
                return LetGo::Removed(started.elapsed());
            }
            let others = dir.users(&instance).into_iter().any(|pid| pid != me);
            if others || started.elapsed() >= REMOVAL_WAIT {
                return LetGo::StillUsed;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    })
    .await
    .unwrap_or(LetGo::StillUsed)
}

/// `what`, then why it cannot be had here and how to get it.
fn without_docker(what: &str) -> String {
    format!(
        "{what}, but this `persistence` was installed without docker: `{INSTALL_WITH_DOCKER}` \
         adds it (or PERSISTENCE_TEST_BACKEND=native, or external with TEST_DATABASE_URL)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_docker_backend_says_how_to_install_it() {
        let line = without_docker("PERSISTENCE_TEST_BACKEND=docker asks for the docker backend");
        assert!(
            line.contains(
                "installed without docker: `cargo install --locked persistence-pg-cli --features docker`"
            ),
            "{line}"
        );
        assert!(line.contains("PERSISTENCE_TEST_BACKEND=native"), "{line}");
    }

    fn from(vars: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    }

    #[test]
    fn a_server_goes_with_its_command() {
        let dir = PathBuf::from("/tmp/state/dev");
        let settings = for_command(from(&[("PERSISTENCE_TEST_IDLE_GRACE", "30")]), dir.clone())
            .expect("usable");
        assert_eq!(settings.state_dir, dir);
        assert_eq!(settings.idle_grace, IdleGrace::After(Duration::ZERO));

        let docker = for_command(from(&[("PERSISTENCE_TEST_BACKEND", "docker")]), dir);
        match docker {
            Ok(settings) => assert_eq!(settings.backend, BackendKind::Docker),
            Err(error) => assert!(
                error.to_string().contains(INSTALL_WITH_DOCKER),
                "this build has no docker: {error}"
            ),
        }
        assert_eq!(docker_or_not_ok(), HAS_DOCKER);
    }

    /// Whether asking for docker works in this build.
    fn docker_or_not_ok() -> bool {
        for_command(
            from(&[("PERSISTENCE_TEST_BACKEND", "docker")]),
            PathBuf::new(),
        )
        .is_ok()
    }

    #[test]
    fn the_supervisor_it_waits_for_is_known_dead_or_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
