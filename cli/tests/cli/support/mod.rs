//! What the tests share, one module per job. A build without the studio leaves some of it
//! unused.

#![allow(dead_code)]

pub mod browser;
pub mod cargo;
pub mod cli;
pub mod docker;
pub mod kept;
#[cfg(unix)]
#[path = "../../../../tests/common/other_user.rs"]
pub mod other_user;
pub mod password;
pub mod scenario;
pub mod schema;
pub mod server;
pub mod studio;
pub mod tempdir;
pub mod user;
