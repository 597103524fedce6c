//! The `native` backend: a PostgreSQL server started from local binaries.
//!
//! `initdb` runs once per PostgreSQL version into a cached pristine cluster; each server gets a
//! copy of it (tens of milliseconds instead of 0.7 s), on tmpfs when there is room, since
//! `CREATE DATABASE` on this kind of disk costs 50-500 ms against ~20 ms on tmpfs.

mod binaries;
mod cluster;
mod postmaster;

pub use binaries::PgBinaries;
pub(crate) use cluster::{Instance, instances_roots, pristine_roots};
pub(crate) use postmaster::Postmaster;
