//! What a test's database starts from: the migrations, applied once per schema into a
//! template database ([`template`]) that clones are made from; the fixtures run before the
//! body ([`fixtures`]); the names of every database the harness makes ([`names`]); and the
//! check that a test binary is not older than its migrations ([`stale`]).

pub(crate) mod fixtures;
pub(crate) mod names;
pub(crate) mod stale;
pub(crate) mod template;

use sqlx::migrate::Migrator;

/// Where a test's schema comes from.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Migrations {
    /// Migrations embedded with `sqlx::migrate!`, applied once into a template database.
    Embedded(&'static Migrator),
    /// No migrations: the test starts from an empty database (`migrations = false`).
    None,
}

impl Migrations {
    /// Tells schemas apart within a process: a migrator is a `static`, so its address is
    /// its identity.
    pub(crate) fn identity(self) -> usize {
        match self {
            Self::Embedded(migrator) => std::ptr::from_ref(migrator) as usize,
            Self::None => 0,
        }
    }
}
