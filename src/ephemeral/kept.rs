//! Kept databases: a failed test's database kept for inspection (`PERSISTENCE_TEST_KEEP`)
//! holds its server past the idle grace until it is dropped or the server is stopped.
//!
//! The harness records each kept database as a file in the server's files of the state
//! directory ([`StateDir::kept_databases`]); a file survives the process that wrote it
//! (SIGKILL included). Only the server can say whether the database still exists, so the
//! supervisor asks it before it retires an idle server, and forgets the ones dropped.

use sqlx::{Connection, PgConnection};

use super::state_dir::{ServerState, StateDir};

/// The name prefix of a kept database. Here, below both users: the harness names kept
/// databases with it, and `persistence studio`, which builds without the harness, opens a
/// database with this prefix read-only.
pub const PREFIX: &str = "persistence_keep_";

/// The kept databases of `state`'s server that still exist on it, sorted; the records of
/// dropped ones are removed. `Err` when the server cannot be asked.
pub async fn existing(
    state_dir: &StateDir,
    state: &ServerState,
) -> Result<Vec<String>, sqlx::Error> {
    let recorded = state_dir.kept_databases(&state.instance_id);
    if recorded.is_empty() {
        return Ok(recorded);
    }
    let mut conn = PgConnection::connect_with(&state.admin_options()).await?;
    let mut found: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = ANY($1)")
            .bind(&recorded)
            .fetch_all(&mut conn)
            .await?;
    let _ = conn.close().await;
    found.sort();
    for name in recorded.iter().filter(|name| !found.contains(name)) {
        state_dir.forget_kept(&state.instance_id, name);
    }
    Ok(found)
}
