//! The `persistence` command's tests, run against the binary as a user runs it: one test
//! binary (linked once), a module per behaviour, and `support` for what they share.
//!
//! Tests that watch another test of this binary fail or crash re-run it in a child process
//! with `--exact <module>::<test>` (see `support::scenario`).

mod support;

mod contract;
mod dev;
// Another OS user (`runuser`) and unix sockets.
#[cfg(unix)]
mod dev_owner_only;
mod generate;
mod health;
mod init;
mod kept_until_stopped;
mod migrate;
mod own_migrations;
mod prepare;
mod projects;
// It stops `persistence dev` with SIGTERM, as Ctrl-C would.
#[cfg(unix)]
mod quick_start;
#[cfg(feature = "studio")]
mod studio_auth;
// The browser tests signal their chromedriver's process group.
#[cfg(all(unix, feature = "studio"))]
mod studio_browser;
#[cfg(feature = "studio")]
mod studio_editing;
#[cfg(feature = "studio")]
mod studio_hostile;
#[cfg(all(unix, feature = "studio"))]
mod studio_kept;
#[cfg(feature = "studio")]
mod studio_start;
mod unreachable;
