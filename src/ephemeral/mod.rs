//! Throwaway PostgreSQL servers for tests and local development.
//!
//! A server comes from a [`BackendKind`]: an `external` URL (`TEST_DATABASE_URL`), or a server
//! this module starts from local PostgreSQL binaries (`native`). A started server is shared by
//! every process of a test run: processes meet through lock files in the target directory
//! (see [`shared`]), the first one starts a detached supervisor that owns the server and
//! removes it, with its data, once no process has used it for an idle grace.
//!
//! Dependencies point one way: this module uses nothing of the test harness, so the CLI's
//! `dev` command can use it too.

mod backend;
// Used by the persistence CLI (`test-server status|stop`) and this crate's tests, not a stable API.
#[doc(hidden)]
pub mod control;
#[cfg(feature = "docker")]
mod docker;
mod error;
mod external;
// Used by the persistence CLI (kept databases in `test-server status`), not a stable API.
#[doc(hidden)]
pub mod kept;
mod mismatch;
pub mod native;
// Used by the persistence CLI (process liveness) and this crate's tests, not a stable API.
#[doc(hidden)]
pub mod platform;
// Used by the persistence CLI (servers of every project in `test-server`), not a stable API.
#[doc(hidden)]
pub mod registry;
mod secret;
mod settings;
pub mod shared;
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
pub use secret::Secret;
pub use settings::{
    DEFAULT_IMAGE, DEFAULT_READY_CLONES, IdleGrace, IsolationOverride, KeepPolicy, Settings,
};
pub use shared::{Server, server};
// Used by the persistence CLI (`dev`, `generate`, `prepare`), not a stable API: a program of
// its own would also need the hidden supervisor hook.
#[doc(hidden)]
pub use shared::server_with;
