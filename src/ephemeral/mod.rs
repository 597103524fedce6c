//! Throwaway PostgreSQL servers for tests and local development.
//!
//! A server comes from a [`BackendKind`]: an `external` URL (`TEST_DATABASE_URL`), or a server
//! this module starts from local PostgreSQL binaries (`native`). A started server is shared by
//! every process of a test run: processes meet through lock files in the target directory
//! (see [`shared`]), the first one starts a detached [`supervisor`] that owns the server and
//! removes it, with its data, once no process has used it for an idle grace.
//!
//! Dependencies point one way: this module uses nothing of the test harness, so the CLI's
//! `dev` command can use it too.

mod backend;
pub mod control;
#[cfg(feature = "docker")]
mod docker;
mod error;
mod external;
pub mod kept;
mod mismatch;
pub mod native;
pub mod platform;
pub mod registry;
mod secret;
mod settings;
pub mod shared;
pub mod state_dir;
pub mod supervisor;
mod sweep;

pub use backend::BackendKind;
pub use error::EphemeralError;
pub use secret::Secret;
pub use settings::{
    DEFAULT_IMAGE, DEFAULT_READY_CLONES, IdleGrace, IsolationOverride, KeepPolicy, Settings,
};
pub use shared::{Server, server, server_with};
