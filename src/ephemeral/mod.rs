//! Throwaway PostgreSQL servers for tests and local development.
//!
//! A server comes from a [`BackendKind`]: an `external` URL (`TEST_DATABASE_URL`), a server
//! this module starts from local PostgreSQL binaries (`native`), or a container (`docker`,
//! with the cargo feature `docker`). A started server is shared by every process of a test
//! run: processes meet through lock files in the state directory (`join`), the first one
//! starts a detached supervisor that owns the server and removes it, with its data, once no
//! process has used it for an idle grace.
//!
//! One file per concept: `settings` (every variable, read once), `state_dir` (every path and
//! file format), `platform` (every OS call), `choose` (auto's choice), `join` (join or start,
//! under the locks), `process` (what runs a server, per backend), `server` (the handle a
//! process holds), `supervisor` (the detached owner and its idle grace), `sweep` (what dead
//! owners left).
//!
//! Dependencies point one way: this module uses nothing of the test harness, so the CLI's
//! `dev` command can use it too.

mod backend;
mod choose;
// Used by the persistence CLI (`test-server status|stop`) and this crate's tests, not a stable API.
#[doc(hidden)]
pub mod control;
#[cfg(feature = "docker")]
mod docker;
mod error;
mod external;
mod join;
// Used by the persistence CLI (kept databases in `test-server status`), not a stable API.
#[doc(hidden)]
pub mod kept;
mod mismatch;
pub mod native;
// Used by the persistence CLI (process liveness) and this crate's tests, not a stable API.
#[doc(hidden)]
pub mod platform;
// Used by the persistence CLI (servers of every project in `test-server`), not a stable API.
mod process;
#[doc(hidden)]
pub mod registry;
mod secret;
mod server;
mod settings;
// The state directory's layout: read by the persistence CLI and this crate's tests, not a
// stable API.
#[doc(hidden)]
pub mod state_dir;
// Used by the persistence CLI (`run_if_requested` before its `main`), not a stable API: the
// harness registers the hook by itself.
#[doc(hidden)]
pub mod supervisor;
mod sweep;

pub use backend::BackendKind;
pub use error::EphemeralError;
pub use join::server;
pub use secret::Secret;
pub use settings::{
    DEFAULT_IMAGE, DEFAULT_READY_CLONES, IdleGrace, IsolationOverride, KeepPolicy, Settings,
};
// Used by the persistence CLI (`dev`, `generate`, `prepare`), not a stable API: a program of
// its own would also need the hidden supervisor hook.
#[doc(hidden)]
pub use join::server_with;
pub use server::Server;
