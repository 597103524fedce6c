//! What a test's database starts from: the migrations and the fixtures, loaded once per
//! schema into a template database ([`template`]) that clones are made from ([`fixtures`]
//! runs them); the names of every database the harness makes ([`names`]); and the check
//! that a test binary is not older than its migrations ([`stale`]).

pub(crate) mod fixtures;
pub(crate) mod names;
pub(crate) mod stale;
pub(crate) mod template;

use sqlx::migrate::Migrator;

use fixtures::Fixture;

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

/// What a test's database starts from: its migrations, then its fixtures in order. Each
/// schema has a template of its own, built once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema {
    pub(crate) migrations: Migrations,
    pub(crate) fixtures: &'static [Fixture],
    /// The role the tests' connections log in as (created before the migrations run), or
    /// `None` for the server's superuser.
    pub(crate) role: Option<&'static str>,
}

impl Schema {
    /// Tells schemas apart within a process by where they are defined (a `static` migrator,
    /// a `const` list of fixtures): equal schemas defined twice are two identities with one
    /// template, as the template's key is a hash of their contents.
    pub(crate) fn identity(self) -> (usize, usize, usize, Option<&'static str>) {
        (
            self.migrations.identity(),
            self.fixtures.as_ptr() as usize,
            self.fixtures.len(),
            self.role,
        )
    }
}
