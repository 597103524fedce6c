//! What one `#[db_test]` asks for: the description the macro emits and the runtime reads.

use sqlx::migrate::Migrator;

/// How a test is isolated from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// One transaction on a shared, migrated database, rolled back after the test.
    Transaction,
    /// A database of its own, cloned from the migrated template and dropped after the test.
    Database,
}

/// Where a test's schema comes from.
#[derive(Debug, Clone, Copy)]
pub enum Migrations {
    /// Migrations embedded with `sqlx::migrate!`, applied once into a template database.
    Embedded(&'static Migrator),
    /// No migrations: the test starts from an empty database (`migrations = false`).
    None,
}

/// One SQL fixture, embedded at compile time and run before the test body.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// The path it was read from, relative to the crate, for error messages.
    pub path: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

impl Fixture {
    /// A fixture named by `path` whose SQL is `sql`.
    pub const fn new(path: &'static str, sql: &'static str) -> Self {
        Self { path, sql }
    }
}

/// Which tokio runtime runs the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeFlavor {
    /// The harness's process-wide runtime (the default): pooled connections stay warm between
    /// the tests of one process.
    #[default]
    Shared,
    /// A fresh current-thread runtime for this test alone (`flavor = "current_thread"`), as
    /// `#[tokio::test]` builds; needed by `tokio::time::pause`.
    CurrentThread,
    /// A fresh multi-thread runtime for this test alone (`flavor = "multi_thread"`).
    MultiThread {
        /// `worker_threads = N`; `None` lets tokio choose.
        worker_threads: Option<usize>,
    },
}

/// Everything the harness needs to know about one test.
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    /// `module::path::test_name`, used in database names and messages.
    pub name: &'static str,
    /// The schema to start from.
    pub migrations: Migrations,
    /// Fixtures to run, in order, before the body.
    pub fixtures: &'static [Fixture],
    /// Transaction or database isolation. The `run` entry points check that it names their
    /// mode (the macro calls the one the test's arguments imply, a hand-built spec could
    /// call the other); [`TestDb::create`](super::TestDb::create) and
    /// [`TestTransaction::begin`](super::TestTransaction::begin) ignore it, their type
    /// being the mode, and a test without a database has none.
    pub isolation: Isolation,
    /// The runtime the test runs on.
    pub runtime: RuntimeFlavor,
    /// The absolute path of the directory `migrations` was embedded from, when the macro
    /// embedded it: compared with the directory on disk to catch a test binary that cargo did
    /// not rebuild after a migration changed.
    pub migrations_dir: Option<&'static str>,
}

impl TestSpec {
    /// A test named `name` with no migrations, no fixtures, transaction isolation and the
    /// shared runtime; refine it with the methods below (for [`TestDb::create`] and
    /// [`TestTransaction::begin`] in rstest fixtures).
    ///
    /// [`TestDb::create`]: super::TestDb::create
    /// [`TestTransaction::begin`]: super::TestTransaction::begin
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            migrations: Migrations::None,
            fixtures: &[],
            isolation: Isolation::Transaction,
            runtime: RuntimeFlavor::Shared,
            migrations_dir: None,
        }
    }

    /// Applies the migrations of `migrator` (e.g. `&sqlx::migrate!()`).
    pub const fn migrator(mut self, migrator: &'static Migrator) -> Self {
        self.migrations = Migrations::Embedded(migrator);
        self
    }

    /// Runs these fixtures before the test.
    pub const fn fixtures(mut self, fixtures: &'static [Fixture]) -> Self {
        self.fixtures = fixtures;
        self
    }

    /// Chooses the isolation.
    pub const fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }
}
