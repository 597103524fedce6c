//! How `test-server status` shows one server.

use persistence::ephemeral::control::RunningServer;
use persistence::ephemeral::state_dir::ServerProcess;
use persistence::ephemeral::state_dir::StateDir;

use super::places::{Place, Role};
use crate::dev::session;

/// Prints `server`, found in `place`.
pub(super) fn server(server: &RunningServer, place: &Place) {
    let state = &server.state;
    let from = match &state.process {
        ServerProcess::Docker { image, .. } => format!(", image {image}"),
        ServerProcess::Native { pg_bin, .. } => format!(", binaries in {}", pg_bin.display()),
    };
    say!(
        "{} {} ({}, PostgreSQL {}{from})",
        place.role.name(),
        state.instance_id,
        state.backend(),
        state.version
    );
    match &place.elsewhere {
        None => {}
        Some(Some(project)) => say!("  project: {}", project.display()),
        Some(None) => say!("  project: unknown (started by a program that did not say)"),
    }
    say!("  url: {}", state.owner_url("postgres"));
    say!("  state dir: {}", server.state_dir.display());
    let users = if server.users.is_empty() {
        "none".to_owned()
    } else {
        server
            .users
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    say!(
        "  supervisor pid: {}; used by pids: {users}",
        state.supervisor_pid
    );
    let grace = match state.idle_grace_ms {
        Some(0) if place.role != Role::Tests => {
            "none (stops when the command that started it exits)".to_owned()
        }
        Some(_)
            if StateDir::new(&server.state_dir)
                .files_of(&state.instance_id)
                .keep_requested() =>
        {
            "kept (`persistence test-server keep`): stays until `persistence test-server stop`"
                .to_owned()
        }
        Some(ms) => format!(
            "{} s (stops once unused that long, with its kept databases; `persistence \
             test-server keep` keeps it)",
            ms as f64 / 1000.0
        ),
        None => "never (stays until `persistence test-server stop`)".to_owned(),
    };
    say!("  idle grace: {grace}");
    if place.role == Role::Dev {
        for dev in session::sessions(&server.state_dir) {
            say!(
                "  dev database: {} (persistence dev pid {}, migrations from {})",
                state.owner_url(&dev.database),
                dev.pid,
                dev.migrations
            );
        }
    }
    let kept = match &server.kept {
        Ok(kept) => kept.clone(),
        Err(why) => {
            say!("  (could not ask the server which kept databases exist: {why})");
            StateDir::new(&server.state_dir).kept_databases(&state.instance_id)
        }
    };
    if kept.is_empty() {
        say!("  kept databases: none");
    }
    for name in kept {
        say!("  kept database: {}", state.owner_url(&name));
    }
}
