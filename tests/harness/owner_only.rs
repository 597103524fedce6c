//! Only the owner gets in: a server the harness starts refuses every other user of the
//! machine (here `nobody`, through `runuser`) over TCP and through every unix socket (the
//! server's and the relay's), while its owner connects with the URL it was given; its
//! password shows in no `Debug` output or file but its own; and a project kept in a 0700
//! folder works with no permission changed on the way to it.
//!
//! Each test starts a server of its own in a private state directory, and waits for it to go.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persistence::ephemeral::native::PgBinaries;
use persistence::ephemeral::state_dir::{ServerState, StateDir};
use persistence::ephemeral::{BackendKind, IdleGrace, Server, Settings, server_with};
use sqlx::{Connection, PgConnection};

use crate::common::docker::{docker_answers, local_image};
use crate::common::other_user::{assert_nobody_refused, mode, prerequisites, psql};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

/// A server of `backend` of its own in `state_dir`, gone once dropped and waited for.
fn start(runtime: &tokio::runtime::Runtime, backend: BackendKind, state_dir: &Path) -> Server {
    let mut settings = Settings::from_env().expect("settings");
    settings.backend = backend;
    settings.external_url = None;
    settings.state_dir = state_dir.to_owned();
    settings.idle_grace = IdleGrace::After(Duration::ZERO);
    if backend == BackendKind::Docker
        && let Some(image) = local_image()
    {
        settings.image = image;
    }
    runtime
        .block_on(server_with(settings))
        .unwrap_or_else(|e| panic!("a {backend} server: {e}"))
}

fn running(state_dir: &Path) -> ServerState {
    StateDir::new(state_dir)
        .live_server()
        .expect("the server is recorded")
}

/// Nothing but the owner's own password file holds the password.
fn assert_not_shown(secret: &str, server: &Server, state: &ServerState, state_dir: &Path) {
    let mut texts = vec![
        ("Server's Debug", format!("{server:?}")),
        ("ServerState's Debug", format!("{state:?}")),
        ("display_url", server.display_url("postgres")),
    ];
    for name in ["server.json", "starts.log"] {
        let text = std::fs::read_to_string(state_dir.join(name)).unwrap_or_default();
        texts.push((name, text));
    }
    if let Some(dir) = state.process.instance_dir() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        texts.push(("the server's log", log));
    }
    for (what, text) in texts {
        assert!(!text.contains(secret), "{what} shows the password: {text}");
    }
}

fn wait_for(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_native_server_admits_its_owner_only() {
    let Some(psql_bin) = prerequisites() else {
        return;
    };
    let scratch = temp_dir("owner-only-native");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = start(&runtime, BackendKind::Native, scratch.path());
    let state = running(scratch.path());
    let secret = state
        .secret()
        .expect("a generated password")
        .expose()
        .to_owned();
    let port = state.port;

    assert_nobody_refused(&psql_bin, "127.0.0.1", port, "password");
    let socket = state
        .process
        .socket_dir()
        .expect("a unix socket")
        .to_path_buf();
    assert_nobody_refused(
        &psql_bin,
        &socket.to_string_lossy(),
        port,
        "Permission denied",
    );
    // The relay listens once the supervisor's side job is up.
    let (relay, _) = state.relay_sockets().expect("a relay for a native server");
    assert!(
        wait_for(&relay.join(format!(".s.PGSQL.{port}"))),
        "the relay never listened in {}",
        relay.display()
    );
    assert_nobody_refused(
        &psql_bin,
        &relay.to_string_lossy(),
        port,
        "Permission denied",
    );

    // The owner: the URL it was given, the server's socket and the relay's.
    let url = server.owner_url("postgres");
    let owner = psql(&psql_bin, false, &[&url], None);
    assert!(owner.connected, "the owner's URL: {}", owner.said);
    for host in [&socket, &relay] {
        let port = port.to_string();
        let host = host.to_string_lossy();
        let args = [
            "-h", &*host, "-p", &port, "-U", "postgres", "-d", "postgres",
        ];
        let owner = psql(&psql_bin, false, &args, None);
        assert!(owner.connected, "the owner through {host}: {}", owner.said);
    }

    let instance = state
        .process
        .instance_dir()
        .expect("an instance directory")
        .to_path_buf();
    for dir in [&instance, &socket, &relay] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    let secret_file = server.files().secret();
    assert_eq!(mode(&secret_file), 0o600, "{}", secret_file.display());
    assert_not_shown(&secret, &server, &state, scratch.path());

    drop(server);
    wait_for_server_to_go(scratch.path());
    // The supervisor removes the server's files once the server is stopped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while secret_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!secret_file.exists(), "the password goes with its server");
}

#[test]
fn a_docker_server_admits_its_owner_only() {
    let Some(psql_bin) = prerequisites() else {
        return;
    };
    if !docker_answers() || local_image().is_none() {
        eprintln!("skipped: no Docker daemon with the test image here");
        return;
    }
    let scratch = temp_dir("owner-only-docker");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = start(&runtime, BackendKind::Docker, scratch.path());
    let state = running(scratch.path());
    let secret = state
        .secret()
        .expect("a generated password")
        .expose()
        .to_owned();

    assert_nobody_refused(&psql_bin, "127.0.0.1", state.port, "password");
    let owner = psql(&psql_bin, false, &[&server.owner_url("postgres")], None);
    assert!(owner.connected, "the owner's URL: {}", owner.said);
    assert_not_shown(&secret, &server, &state, scratch.path());

    drop(server);
    wait_for_server_to_go(scratch.path());
}

/// Every directory from `dir` up to the root, with its mode.
fn modes_up_from(dir: &Path) -> Vec<(PathBuf, u32)> {
    dir.ancestors().map(|d| (d.to_owned(), mode(d))).collect()
}

#[test]
fn a_project_in_an_owner_only_folder_works_and_keeps_its_modes() {
    if let Err(err) = PgBinaries::find(None) {
        eprintln!("skipped: no native PostgreSQL here ({err})");
        return;
    }
    let scratch = temp_dir("owner-only-folder");
    let project = scratch.path().join("project");
    std::fs::create_dir(&project).expect("the project folder");
    std::fs::set_permissions(
        &project,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod 0700");
    let before = modes_up_from(&project);
    let state_dir = project.join("target").join("persistence");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = start(&runtime, BackendKind::Native, &state_dir);
    runtime.block_on(async {
        let mut conn = PgConnection::connect_with(server.admin_options())
            .await
            .expect("connect as the owner");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .expect("SELECT 1");
        assert_eq!(one, 1);
        conn.close().await.expect("close");
    });
    // The owner's URL over TCP works too.
    runtime.block_on(async {
        let conn = PgConnection::connect(&server.owner_url("postgres"))
            .await
            .expect("the owner's URL");
        conn.close().await.expect("close");
    });
    drop(server);
    wait_for_server_to_go(&state_dir);

    assert_eq!(modes_up_from(&project), before, "a mode on the way changed");
    assert_eq!(mode(&project), 0o700);
}
