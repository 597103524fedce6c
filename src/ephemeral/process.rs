//! What runs a started server, per backend: the one file that tells a native server from a
//! docker one, so that `cfg(feature = "docker")` sits on the docker arms here and nowhere
//! else in the server's life.
//!
//! A started server takes three forms, each an enum with the data of its backend only:
//! - [`Launch`]: what to start, in the supervisor's request (`choose` decides it);
//! - [`Running`]: the handle the supervisor owns (a postmaster, or a container);
//! - `ServerProcess`: what every other process reads of it in `server.json` (a file format,
//!   so in `state_dir`).
//!
//! An external server (`TEST_DATABASE_URL`) has none of them: nothing of it is started.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::native::{Instance, PgBinaries, Postmaster};
use super::platform::unprivileged_user;
use super::state_dir::{ServerProcess, ServerState};
use super::{EphemeralError, Secret};

/// What to start; chosen by the process that starts the server, carried to the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Launch {
    /// From the PostgreSQL binaries in `bins`, data in `ram_dir` when it has room.
    Native {
        bins: PathBuf,
        ram_dir: Option<PathBuf>,
    },
    /// From this image, in a container; `key` labels it as this state directory's.
    Docker { image: String, key: String },
}

/// The server a supervisor owns, and removes with its data when it stops.
pub(crate) enum Running {
    Native {
        instance: Instance,
        postmaster: Box<Postmaster>,
    },
    #[cfg(feature = "docker")]
    Docker(Box<super::docker::Container>),
}

impl Running {
    /// Starts what `launch` asks for, its superuser's password `secret`; the state it returns
    /// is this process's (`supervisor_pid`) and has no secret yet (the caller writes it).
    pub(crate) fn start(
        launch: &Launch,
        state_dir: &Path,
        idle_grace_ms: Option<u64>,
        secret: &Secret,
    ) -> Result<(Self, ServerState), EphemeralError> {
        let (running, instance_id, port, version, process) = match launch {
            Launch::Native { bins, ram_dir } => {
                let bins = PgBinaries::find(Some(bins))?;
                let run_as = unprivileged_user();
                let instance =
                    Instance::create(state_dir, ram_dir.as_deref(), std::process::id(), run_as)?;
                let started = instance
                    .populate(&bins, state_dir, run_as)
                    .and_then(|()| Postmaster::start(&bins, &instance, run_as, secret));
                let postmaster = match started {
                    Ok(postmaster) => postmaster,
                    Err(err) => {
                        instance.remove();
                        return Err(err);
                    }
                };
                let process = ServerProcess::Native {
                    instance_dir: instance.dir.clone(),
                    socket_dir: postmaster.socket_dir.clone(),
                    postmaster_pid: postmaster.pid(),
                    pg_bin: bins.dir.clone(),
                };
                let (id, port) = (instance.id.clone(), postmaster.port);
                let running = Self::Native {
                    instance,
                    postmaster: Box::new(postmaster),
                };
                (running, id, port, bins.version, process)
            }
            #[cfg(feature = "docker")]
            Launch::Docker { image, key } => {
                let container = super::docker::Container::start(image, key, secret)?;
                let id = format!(
                    "{}-{}",
                    std::process::id(),
                    &container.id[..12.min(container.id.len())]
                );
                let process = ServerProcess::Docker {
                    container_id: container.id.clone(),
                    image: image.clone(),
                };
                let (port, version) = (container.port, container.version.clone());
                (
                    Self::Docker(Box::new(container)),
                    id,
                    port,
                    version,
                    process,
                )
            }
            #[cfg(not(feature = "docker"))]
            Launch::Docker { .. } => {
                return Err(EphemeralError::Start {
                    detail: NO_DOCKER_BACKEND.into(),
                });
            }
        };
        let state = ServerState {
            instance_id,
            process,
            port,
            version,
            supervisor_pid: std::process::id(),
            idle_grace_ms,
            secret: None,
        };
        Ok((running, state))
    }

    /// Whether the server ended by itself.
    pub(crate) fn has_exited(&mut self) -> bool {
        match self {
            Self::Native { postmaster, .. } => postmaster.has_exited(),
            #[cfg(feature = "docker")]
            Self::Docker(container) => container.has_exited(),
        }
    }

    /// Stops the server and removes its data.
    pub(crate) fn stop(&mut self) {
        match self {
            Self::Native {
                instance,
                postmaster,
            } => {
                postmaster.stop();
                instance.remove();
            }
            #[cfg(feature = "docker")]
            Self::Docker(container) => container.stop(),
        }
    }
}

/// `None` when the docker backend can be used with `image`, else why not.
pub(crate) fn docker_unusable(image: &str) -> Option<String> {
    #[cfg(feature = "docker")]
    {
        match super::docker::availability(image) {
            super::docker::Availability::Ready => None,
            super::docker::Availability::Unusable(why) => Some(why),
        }
    }
    #[cfg(not(feature = "docker"))]
    {
        let _ = image;
        Some(NO_DOCKER_BACKEND.to_owned())
    }
}

/// Removes the containers whose supervisors are gone (docker has no parent-death signal).
pub(crate) fn sweep_orphan_containers() {
    #[cfg(feature = "docker")]
    super::docker::sweep_orphans();
}

/// Why a build without the `docker` feature has no docker backend, and how to get it.
#[cfg(not(feature = "docker"))]
pub(crate) const NO_DOCKER_BACKEND: &str = "this build has no docker backend: it is the cargo \
     feature `docker` of persistence-pg (for tests: `persistence-pg = { ..., features = \
     [\"testing\", \"docker\"] }` among the dev-dependencies)";
