//! Which backend a run uses, and the one line that says why when `auto` chose.
//!
//! `PERSISTENCE_TEST_BACKEND=auto` (the default) means: the server `TEST_DATABASE_URL` names
//! if it is set, else a container if a Docker daemon answers and has (or can pull) the image,
//! else a server from local PostgreSQL binaries, else an error that says how to get each.
//! Only the first step is decided for every process; the others cost a daemon's answer or a
//! look for binaries (`pg_config`, `postgres --version`: ~12 ms), so they are asked only by
//! the process that starts the run's server, under the start lock. Processes that join take
//! what it chose.

use super::native::PgBinaries;
use super::process::{self, Launch};
use super::settings::Settings;
use super::state_dir::StateDir;
use super::{BackendKind, EphemeralError, platform};

/// Whether this run's server is the external one (`TEST_DATABASE_URL`), decided from the
/// settings alone; otherwise it is a server the harness starts or joins.
pub(crate) fn is_external(settings: &Settings) -> bool {
    match settings.backend {
        BackendKind::External => true,
        BackendKind::Auto => settings.external_url.is_some(),
        BackendKind::Native | BackendKind::Docker => false,
    }
}

/// What to start, and why when `auto` chose.
pub(crate) fn launch(settings: &Settings) -> Result<(Launch, Option<String>), EphemeralError> {
    let native = || {
        if let Some(reason) = platform::native_unavailable() {
            return Err(EphemeralError::NativeUnavailable { reason });
        }
        PgBinaries::find(settings.pg_bin.as_deref()).map(|b| Launch::Native {
            bins: b.dir,
            ram_dir: settings.ram_dir.clone(),
        })
    };
    let docker = || Launch::Docker {
        image: settings.image.clone(),
        key: StateDir::new(&settings.state_dir).harness_key(),
    };
    match settings.backend {
        BackendKind::Native => native().map(|launch| (launch, None)),
        BackendKind::Docker => Ok((docker(), None)),
        BackendKind::Auto | BackendKind::External => {
            let Some(docker_unusable) = process::docker_unusable(&settings.image) else {
                let choice = format!("docker (image {} is present)", settings.image);
                return Ok((docker(), Some(choice)));
            };
            match native() {
                Ok(launch) => {
                    let choice = format!(
                        "native (TEST_DATABASE_URL is not set; docker is not usable: \
                         {docker_unusable})"
                    );
                    Ok((launch, Some(choice)))
                }
                Err(err) => Err(EphemeralError::NoBackend {
                    docker: docker_unusable,
                    native: err.to_string(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(vars).expect("valid settings")
    }

    #[test]
    fn a_url_makes_auto_external_and_a_named_backend_wins() {
        let url = ("TEST_DATABASE_URL", "postgres://u@localhost/db");
        assert!(is_external(&settings(&[url])));
        assert!(!is_external(&settings(&[])));
        assert!(!is_external(&settings(&[
            url,
            ("PERSISTENCE_TEST_BACKEND", "native")
        ])));
        assert!(is_external(&settings(&[(
            "PERSISTENCE_TEST_BACKEND",
            "external"
        )])));
    }

    #[test]
    fn a_named_docker_backend_is_launched_without_asking_the_daemon() {
        let (launch, choice) =
            launch(&settings(&[("PERSISTENCE_TEST_BACKEND", "docker")])).expect("a launch");
        assert!(matches!(launch, Launch::Docker { .. }), "{launch:?}");
        assert_eq!(choice, None);
    }
}
