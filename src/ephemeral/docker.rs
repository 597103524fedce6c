//! The `docker` backend: a PostgreSQL container started with testcontainers.
//!
//! The container is owned by the supervisor like a native server: labelled with the
//! harness's key and the supervisor's pid, published on 127.0.0.1 only, its superuser's
//! password the server's generated one (scram-sha-256 for every address), its data on tmpfs,
//! tuned for tests, and ready only when a real `SELECT 1` answers through the published port.
//! Docker has no parent-death signal: a container whose supervisor was killed is removed by
//! the next start's sweep, which finds it by its labels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::{ContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::postgres::Postgres;
use tokio::runtime::Runtime;

use super::platform;
use super::state_dir::{HARNESS_LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL};
use super::{DEFAULT_IMAGE, EphemeralError, Secret};

/// How often the supervisor asks the daemon whether the container still runs.
const LIVENESS_EVERY: Duration = Duration::from_secs(2);

/// A running PostgreSQL container, owned by the supervisor.
pub(crate) struct Container {
    runtime: Runtime,
    container: Option<ContainerAsync<Postgres>>,
    pub(crate) id: String,
    pub(crate) port: u16,
    pub(crate) version: String,
    checked_at: Instant,
}

impl Container {
    /// Starts a container of `image` for the harness run keyed by `key`, its superuser's
    /// password `secret`.
    pub(crate) fn start(image: &str, key: &str, secret: &Secret) -> Result<Self, EphemeralError> {
        let runtime = runtime()?;
        let (name, tag) = split_image(image);
        // The password is in the container's environment: who may read that (`docker
        // inspect`) may run any container, root's equal already.
        let request = Postgres::default()
            .with_password(secret.expose())
            .with_name(name)
            .with_env_var("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")
            // Before PostgreSQL 14 the password would be stored as md5, which scram cannot
            // check: initdb stores it as scram when told that TCP uses it.
            .with_env_var("POSTGRES_INITDB_ARGS", "--auth-host=scram-sha-256")
            .with_tag(tag)
            .with_label(HARNESS_LABEL, key)
            .with_label(OWNER_PID_LABEL, std::process::id().to_string())
            .with_label(OWNER_HOST_LABEL, platform::hostname())
            .with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"))
            .with_cmd([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .with_startup_timeout(Duration::from_secs(120))
            // Published on loopback only: no other machine even gets to try the password.
            .with_host_config_modifier(|config: &mut HostConfig| {
                config.publish_all_ports = Some(false);
                config.port_bindings = Some(HashMap::from([(
                    "5432/tcp".to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )]));
            });
        let started = runtime.block_on(async {
            let container = request.start().await.map_err(|e| EphemeralError::Start {
                detail: format!(
                    "docker could not start {image}: {e}; the image comes from \
                     PERSISTENCE_TEST_IMAGE (default {DEFAULT_IMAGE}): set it to an image the \
                     daemon has (`docker images`), `docker pull {image}` where a registry is \
                     reachable, or build one with persistence's ci/build-postgres-image.sh"
                ),
            })?;
            let port = container
                .get_host_port_ipv4(ContainerPort::Tcp(5432))
                .await
                .map_err(|e| EphemeralError::Start {
                    detail: format!("no published port: {e}"),
                })?;
            let version = wait_ready(port, secret).await?;
            Ok::<_, EphemeralError>((container, port, version))
        });
        let (container, port, version) = started?;
        Ok(Self {
            id: container.id().to_owned(),
            runtime,
            container: Some(container),
            port,
            version,
            checked_at: Instant::now(),
        })
    }

    /// Whether the container stopped on its own (asked of the daemon every few seconds).
    pub(crate) fn has_exited(&mut self) -> bool {
        if self.checked_at.elapsed() < LIVENESS_EVERY {
            return false;
        }
        self.checked_at = Instant::now();
        let Some(container) = &self.container else {
            return true;
        };
        !self
            .runtime
            .block_on(container.is_running())
            .unwrap_or(false)
    }

    /// Removes the container and its tmpfs.
    pub(crate) fn stop(&mut self) {
        if let Some(container) = self.container.take() {
            let _ = self.runtime.block_on(container.rm());
        }
    }
}

async fn wait_ready(port: u16, secret: &Secret) -> Result<String, EphemeralError> {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .password(secret.expose())
        .database("postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let probe = async {
            let mut conn = PgConnection::connect_with(&options).await?;
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(version)
        };
        match probe.await {
            Ok(version) => return Ok(version.split_whitespace().next().unwrap_or("").to_owned()),
            Err(err) if Instant::now() >= deadline => {
                return Err(EphemeralError::Start {
                    detail: format!("the container did not answer SELECT 1 within 60 s: {err}"),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// What `auto` needs to know about Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Availability {
    /// The daemon answers and has the image (or pulled it just now).
    Ready,
    /// Why Docker cannot be used.
    Unusable(String),
}

/// Whether a daemon answers and has `image`, pulling it if it can.
pub(crate) fn availability(image: &str) -> Availability {
    let Ok(runtime) = runtime() else {
        return Availability::Unusable("no tokio runtime".into());
    };
    runtime.block_on(async {
        let docker = match Docker::connect_with_local_defaults() {
            Ok(docker) => docker,
            Err(e) => return Availability::Unusable(format!("no Docker daemon ({e})")),
        };
        match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Availability::Unusable(format!("the Docker daemon does not answer ({e})"));
            }
            Err(_) => return Availability::Unusable("the Docker daemon does not answer".into()),
        }
        if docker.inspect_image(image).await.is_ok() {
            return Availability::Ready;
        }
        let (name, tag) = split_image(image);
        let options = CreateImageOptionsBuilder::new()
            .from_image(name)
            .tag(tag)
            .build();
        let pull = async {
            let mut progress = docker.create_image(Some(options), None, None);
            while let Some(step) = progress.next().await {
                step?;
            }
            Ok::<_, testcontainers::bollard::errors::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(120), pull).await {
            Ok(Ok(())) => Availability::Ready,
            Ok(Err(e)) => Availability::Unusable(format!(
                "image {image} is not present and cannot be pulled ({e}); set \
                 PERSISTENCE_TEST_IMAGE to one the daemon has"
            )),
            Err(_) => Availability::Unusable(format!(
                "image {image} is not present and pulling it timed out"
            )),
        }
    })
}

/// Removes the harness's containers whose owner is gone (also ones created but never
/// started). Containers of other hosts sharing the daemon are left to their own sweeps.
pub(crate) fn sweep_orphans() {
    let Ok(runtime) = runtime() else { return };
    runtime.block_on(async {
        let Ok(docker) = Docker::connect_with_local_defaults() else {
            return;
        };
        let filters = HashMap::from([("label", vec![HARNESS_LABEL])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(Ok(containers)) = tokio::time::timeout(
            Duration::from_secs(5),
            docker.list_containers(Some(options)),
        )
        .await
        else {
            return;
        };
        let host = platform::hostname();
        for container in containers {
            let labels = container.labels.unwrap_or_default();
            let same_host = labels.get(OWNER_HOST_LABEL).is_some_and(|h| *h == host);
            let owner_dead = labels
                .get(OWNER_PID_LABEL)
                .and_then(|pid| pid.parse().ok())
                .is_none_or(|pid| !platform::process_alive(pid));
            if let (true, true, Some(id)) = (same_host, owner_dead, container.id) {
                tracing::info!(container = %id, "persistence: removing an orphaned test container");
                let options = RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build();
                let _ = docker.remove_container(&id, Some(options)).await;
            }
        }
    });
}

/// `registry:5000/postgres:17-alpine` -> (`registry:5000/postgres`, `17-alpine`).
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn runtime() -> Result<Runtime, EphemeralError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EphemeralError::Start {
            detail: format!("no tokio runtime: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn splits_image_references() {
        assert_eq!(split_image("postgres:17-alpine"), ("postgres", "17-alpine"));
        assert_eq!(
            split_image("persistence/postgres:15-local"),
            ("persistence/postgres", "15-local")
        );
        assert_eq!(
            split_image("registry:5000/postgres"),
            ("registry:5000/postgres", "latest")
        );
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
    }
}
