//! What the library's integration tests share, one module per job. Each test binary
//! (`tests/<area>/main.rs`) declares `mod common` and uses the modules it needs; the others
//! are compiled in unused.

#![allow(dead_code)]

pub mod cargo;
pub mod docker;
pub mod kept;
#[cfg(unix)]
pub mod other_user;
pub mod password;
pub mod scenario;
pub mod server;
pub mod tempdir;
