//! Only the owner gets into the server `persistence dev` starts: another user of the machine
//! (`nobody`, through `runuser`) is refused over TCP and through the unix socket, while the
//! printed `DATABASE_URL`, pasted into psql as its owner would, works, and so does the URL
//! `persistence test-server status` prints.

use std::time::Duration;

use persistence::ephemeral::native::PgBinaries;
use persistence::ephemeral::state_dir::StateDir;

use crate::dev::{database_url, dev, serve_until_ready};
use crate::support::cli::{cli, texts, wait_with_timeout};
use crate::support::other_user::{assert_nobody_refused, prerequisites, psql};
use crate::support::schema;
use crate::support::tempdir::temp_dir;

#[test]
fn dev_admits_its_owner_only() {
    let Some(psql_bin) = prerequisites() else {
        return;
    };
    if let Err(err) = PgBinaries::find(None) {
        eprintln!("skipped: no native PostgreSQL here ({err})");
        return;
    }
    let state = temp_dir("cli-dev-owner-only");
    let database = format!("persistence_dev_owner_{}", std::process::id());
    let source = schema::migrations_arg();
    let mut command = dev(
        state.path(),
        &["--database", &database, "--source", &source],
    );
    command
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env_remove("TEST_DATABASE_URL");
    let (mut child, seen) = serve_until_ready(command);
    let url = database_url(&seen.join("\n"));
    let server = StateDir::new(state.path().join("dev"))
        .live_server()
        .expect("dev's server is recorded");
    let socket = server
        .process
        .socket_dir()
        .expect("a unix socket")
        .to_path_buf();

    assert_nobody_refused(&psql_bin, "127.0.0.1", server.port, "password");
    assert_nobody_refused(
        &psql_bin,
        &socket.to_string_lossy(),
        server.port,
        "Permission denied",
    );
    let owner = psql(&psql_bin, false, &[&url], None);
    assert!(owner.connected, "the printed DATABASE_URL: {}", owner.said);

    let status = cli(state.path(), &["test-server", "status"])
        .env("PERSISTENCE_STATE_DIR", state.path())
        .output()
        .expect("test-server status");
    let (out, err) = texts(&status);
    let shown = out
        .lines()
        .find_map(|line| {
            let url = line.trim().strip_prefix("dev database: ")?;
            url.split_whitespace().next().map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("status names dev's database: {out}{err}"));
    let owner = psql(&psql_bin, false, &[&shown], None);
    assert!(owner.connected, "the status URL {shown}: {}", owner.said);

    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "dev exits 0");
}
