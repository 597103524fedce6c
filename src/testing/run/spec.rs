//! What one test asks for: the description `#[db_test]` builds and the harness reads.
//!
//! The test's mode (a transaction, a database of its own, or no database) is not part of it:
//! it is the type of what the test takes, and so which entry point of [`super`] (or which
//! handle: [`TestTransaction`](crate::testing::TestTransaction),
//! [`TestDb`](crate::testing::TestDb)) it is run with.

use sqlx::migrate::Migrator;

use crate::testing::schema::fixtures::Fixture;
use crate::testing::schema::{Migrations, Schema};

/// The tokio runtime a test's body runs on, built for the test and dropped after it, as
/// `#[tokio::test]` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// A current-thread runtime (the default, as for `#[tokio::test]`): the body and the
    /// tasks it spawns share the test's thread.
    #[default]
    CurrentThread,
    /// A multi-thread runtime (`flavor = "multi_thread"`).
    MultiThread {
        /// `worker_threads = N`; `None` lets tokio choose (one per core).
        worker_threads: Option<usize>,
    },
}

/// Everything the harness needs to know about one test.
///
/// Built with [`TestSpec::new`] and its methods (each a `const fn`, so a spec can be a
/// `const`), e.g. in an rstest fixture that calls [`TestDb::create`]:
///
/// ```
/// use persistence::testing::TestSpec;
///
/// static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;
/// const SPEC: TestSpec = TestSpec::new("my_crate::tests::orders").migrator(&MIGRATOR);
/// assert_eq!(SPEC.name(), "my_crate::tests::orders");
/// ```
///
/// [`TestDb::create`]: crate::testing::TestDb::create
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TestSpec {
    pub(crate) name: &'static str,
    pub(crate) migrations: Migrations,
    pub(crate) fixtures: &'static [Fixture],
    pub(crate) runtime: RuntimeFlavor,
    pub(crate) migrations_dir: Option<&'static str>,
    pub(crate) role: Option<&'static str>,
}

impl TestSpec {
    /// A test named `name` (`module::path::test_name`, used in messages and in the names of
    /// kept databases) with no migrations, no fixtures and a current-thread runtime.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            migrations: Migrations::None,
            fixtures: &[],
            runtime: RuntimeFlavor::CurrentThread,
            migrations_dir: None,
            role: None,
        }
    }

    /// Applies the migrations of `migrator` (e.g. `&sqlx::migrate!()`, in a `static`).
    pub const fn migrator(mut self, migrator: &'static Migrator) -> Self {
        self.migrations = Migrations::Embedded(migrator);
        self
    }

    /// Applies `migrations`.
    pub const fn migrations(mut self, migrations: Migrations) -> Self {
        self.migrations = migrations;
        self
    }

    /// Names the directory on disk (an absolute path) the migrations were embedded from, so
    /// that a test binary cargo did not rebuild after a migration changed is caught, and a
    /// failing migration is named by its path.
    pub const fn migrations_dir(mut self, dir: &'static str) -> Self {
        self.migrations_dir = Some(dir);
        self
    }

    /// Starts the test's database with the rows of these fixtures, run in order (once, into
    /// a template of the schema, which every test's database is cloned from).
    pub const fn fixtures(mut self, fixtures: &'static [Fixture]) -> Self {
        self.fixtures = fixtures;
        self
    }

    /// Logs the test's connections in as `role`, not as the server's superuser, so that
    /// row-level security policies apply and a missing `GRANT` fails as in production
    /// (`#[db_test(role = "app")]`; `PERSISTENCE_TEST_ROLE` sets it for every test that
    /// names none).
    ///
    /// The harness creates the role (`LOGIN`, not a superuser) if it does not exist, before
    /// the migrations run, so that they can grant to it; the migrations, fixtures and the
    /// harness's own cleaning still run as the superuser. Each role has a template of its
    /// own.
    ///
    /// ```
    /// use persistence::testing::TestSpec;
    ///
    /// const SPEC: TestSpec = TestSpec::new("my_crate::tests::tenants").role("app");
    /// # let _ = SPEC;
    /// ```
    pub const fn role(mut self, role: &'static str) -> Self {
        self.role = Some(role);
        self
    }

    /// Runs the test's body on this runtime.
    pub const fn runtime(mut self, runtime: RuntimeFlavor) -> Self {
        self.runtime = runtime;
        self
    }

    /// The test's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What the test's database starts from, and who its connections log in as: the role
    /// it names, else `PERSISTENCE_TEST_ROLE` (a bad value of it is reported when the
    /// server is resolved).
    pub(crate) fn schema(&self) -> Schema {
        let suite_role = || {
            crate::ephemeral::Settings::get()
                .ok()
                .and_then(|settings| settings.role.as_deref())
        };
        Schema {
            migrations: self.migrations,
            fixtures: self.fixtures,
            role: self.role.or_else(suite_role),
        }
    }
}
