//! Database mode: a database of its own per test, cloned from the template.
//!
//! On a server the harness started, the database is a pooled clone
//! ([`crate::testing::pool::database`]), reset after the test. On an external server, which
//! other machines may share, it is made for the test and dropped after it
//! ([`crate::testing::pool::fresh`]).

use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::kept;
use super::runtime::on_harness;
use super::spec::TestSpec;
use crate::ephemeral::BackendKind;
use crate::testing::error::HarnessError;
use crate::testing::home::{Home, home};
use crate::testing::pool::budget::{self, Share};
use crate::testing::pool::database::{self as clones, DbClone, TEST_POOL_MAX};
use crate::testing::pool::fresh::{self, FreshDb};
use crate::testing::pool::janitor;
use crate::testing::pool::leases::CloneState;
use crate::testing::session::{Session, pool_options};
use crate::testing::timings::mark;

/// A database of its own for one test, cloned from the migrated template; no other running
/// test touches it, and nothing of it is seen by the next test.
///
/// `#[db_test]` builds one for tests that take a pool; build one yourself with
/// [`TestDb::create`], e.g. in an rstest fixture, and end it with [`TestDb::close`]. On a
/// server the harness started it is a pooled clone, leased for the test and reset (or
/// recreated) after it; on an external server it is made for the test and dropped after
/// it, and a session holds an advisory lock named after it so that, if the process dies, a
/// later run drops it.
#[derive(Debug, Clone)]
pub struct TestDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    url: String,
    pool: PgPool,
    test: &'static str,
    session: &'static Session,
    /// `None` once the test's use of the database has ended.
    backing: Mutex<Option<Backing>>,
    /// The test's connections in the budget, given back with the database.
    share: Mutex<Option<Share>>,
}

/// Where the database came from, which says how it ends.
#[derive(Debug)]
enum Backing {
    /// A pooled clone, given back after the test.
    Clone(DbClone),
    /// A database made for this test (external servers), dropped after it.
    Fresh(FreshDb),
}

impl TestDb {
    /// Creates a database for `spec` (its migrations and fixtures).
    ///
    /// End it with [`TestDb::close`]. A handle dropped without it leaves the clone to be
    /// reset by the next test that takes it (on an external server, the database is
    /// dropped from a thread of its own).
    pub async fn create(spec: &TestSpec) -> Result<Self, HarnessError> {
        let spec = *spec;
        on_harness(async move { Self::open(&spec).await }).await
    }

    /// Leases (or makes) the database, with its fixtures' rows (they are in its template).
    pub(crate) async fn open(spec: &TestSpec) -> Result<Self, HarnessError> {
        let session = Session::of(spec.schema()).await?;
        let external = session.server.backend() == BackendKind::External;
        // Before the database: a test that waits for room holds nothing another one needs.
        // On an external server the session that owns the database is one more.
        let connections = TEST_POOL_MAX + u32::from(external);
        let share = budget::take(session, spec.name, connections).await?;
        mark("budget share");
        let (name, pool, backing) = if external {
            let fresh = fresh::create(session).await?;
            let pool = pool_options(TEST_POOL_MAX)
                .connect_lazy_with(session.test_options(&fresh.name, spec.name));
            (fresh.name.clone(), pool, Backing::Fresh(fresh))
        } else {
            let clone = clones::take(session, spec.name).await?;
            (
                clone.name.clone(),
                clone.pool().clone(),
                Backing::Clone(clone),
            )
        };
        let name: String = name;
        mark("test pool");
        let db = Self {
            inner: Arc::new(Inner {
                url: session.server.display_url(&name),
                name,
                pool,
                test: spec.name,
                session,
                backing: Mutex::new(Some(backing)),
                share: Mutex::new(Some(share)),
            }),
        };
        Ok(db)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A URL for the database, without password, e.g. to open it with psql.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// A pool connected to the database.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Options to connect to the database yourself.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.inner
            .session
            .test_options(&self.inner.name, self.inner.test)
    }

    /// The server's session of the harness, for the lock-wait watchdog.
    pub(crate) fn session(&self) -> &'static Session {
        self.inner.session
    }

    /// Ends the test's use of the database now: made clean for the next test (a clone) or
    /// dropped, or kept (as after a failed test) when `PERSISTENCE_TEST_KEEP=all`.
    pub async fn close(self) -> Result<(), HarnessError> {
        // Connections still held by the caller's tasks get a moment to come back.
        clones::settle(&self.inner.pool, clones::RETURN_TIMEOUT).await;
        on_harness(async move { self.finish(false).await }).await
    }

    /// On the test's runtime, after its body: lets the connections the test dropped come
    /// back to its pool before that runtime ends (a task of the test that still holds one
    /// is not waited for long: it ends with the runtime). When nothing is kept after the
    /// test, closes them too, while their runtime still runs: the pool itself outlives the
    /// test (`global()` hands out a `'static` handle of it), and the janitor waits for the
    /// clone's sessions to be gone.
    pub(crate) async fn after_body(&self) {
        let pool = &self.inner.pool;
        if home() == Home::TestRuntime {
            // Closed at once, not settled first: a connection that comes back to a closed
            // pool is closed, where one that comes back to an open pool is pinged first (a
            // round trip, for a connection that is closed right after).
            let _ = tokio::time::timeout(clones::RETURN_GRACE, pool.close()).await;
            return;
        }
        clones::settle(pool, clones::RETURN_GRACE).await;
    }

    /// After the test, where the harness's connections live: gives the database back (a
    /// clone, made clean) or drops it, or keeps it as [`kept`] says; a passing test's
    /// earlier kept databases go.
    pub(crate) async fn finish(self, failed: bool) -> Result<(), HarnessError> {
        let finished = self.give_back(failed).await;
        drop(
            self.inner
                .share
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        finished
    }

    async fn give_back(&self, failed: bool) -> Result<(), HarnessError> {
        let backing = self
            .inner
            .backing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(backing) = backing else {
            return Ok(());
        };
        let session = self.inner.session;
        let (name, test) = (&self.inner.name, self.inner.test);
        if !failed {
            kept::forget(session, test).await?;
        }
        let keep = kept::wanted(failed);
        match backing {
            Backing::Clone(clone) if keep => {
                clone.close_pool().await;
                let mut admin = session.admin().await?;
                let kept = kept::keep(&mut admin, session, name, test, failed).await;
                admin.release().await;
                // Renamed away (or half-way): the next holder of the lease makes it anew.
                clone.abandon(Some(CloneState::Unknown));
                kept
            }
            Backing::Clone(clone) => {
                let janitor = janitor::takes_used_clones(session);
                clone.give_back(session, janitor).await
            }
            Backing::Fresh(mut fresh) => {
                let _ = tokio::time::timeout(clones::RETURN_TIMEOUT, self.inner.pool.close()).await;
                if home() == Home::TestRuntime {
                    fresh.rehome(session).await?;
                }
                if keep {
                    let kept = kept::keep(fresh.admin(), session, name, test, failed).await;
                    fresh.release().await;
                    kept
                } else {
                    fresh.drop_now().await
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let backing = self
            .backing
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match backing {
            // Not closed (e.g. an rstest fixture's handle): its lease says "in use", so the
            // next test that takes it resets it first.
            Some(Backing::Clone(clone)) => clone.abandon(None),
            Some(Backing::Fresh(fresh)) => fresh.drop_in_background(self.session),
            None => {}
        }
    }
}
