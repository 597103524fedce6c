//! Database-mode clones: a test commits what it likes into a clone no other running test
//! holds; afterwards the clone is reset ([`super::reset`]) or recreated, and reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgPool};

use super::leases::{CloneState, Existing, Lease};
use super::reset::clean;
use super::{FreeList, Leasing, clone_name, create_clone, is_capacity, lease_error, missing};
use crate::testing::error::HarnessError;
use crate::testing::home::{Home, home};
use crate::testing::schema::names::DB_CLONE_PREFIX;
use crate::testing::session::{Session, application_name, pool_options, set_application_name};
use crate::testing::timings::mark;

/// Connections a database-mode test's pool may open (lazily): `#[sqlx::test]`'s limit. A
/// test whose code holds several connections (listeners, workers) then waits for one as it
/// does there; with more, a suite's timing can differ (a worker test that passes under
/// `#[sqlx::test]` failed under 10, its body never waiting for a connection).
pub(crate) const TEST_POOL_MAX: u32 = 5;

/// How long the connections a test dropped may take to come back to its pool (sqlx returns
/// them from a task, after a round trip) before the harness stops waiting.
pub(crate) const RETURN_GRACE: Duration = Duration::from_millis(200);

/// How often [`settle`] looks whether a test's connections came back to its pool.
const RETURN_POLL: Duration = Duration::from_micros(100);

/// How long a test handle's connections may take to come back when its owner closes it
/// while its tasks still run (a fixture's `TestDb`, not a `#[db_test]`).
pub(crate) const RETURN_TIMEOUT: Duration = Duration::from_secs(2);

/// Database-mode clones this process keeps clean, with their warm pools, between its tests.
static FREE: FreeList<DbClone> = FreeList::new();

/// A database-mode clone, leased; clean when handed to a test.
#[derive(Debug)]
pub(crate) struct DbClone {
    pub(crate) name: String,
    lease: Lease,
    watermark: u64,
    pool: TestPool,
}

/// The pool a test gets, with the count of the connections it opened: the harness opens
/// the first (warm) one itself, on the runtime its connections live on. A connection the
/// test's code opened belongs to the test's runtime and dies with it, so a pool that holds
/// one cannot be kept.
#[derive(Debug, Clone)]
struct TestPool {
    pool: PgPool,
    opened: Arc<AtomicU32>,
    /// The `application_name` of its connections: the test it was made for, or the one it
    /// was last renamed for ([`TestPool::rename`]).
    named_for: String,
}

impl TestPool {
    /// A pool of the test `test` to the clone `name`.
    fn new(session: &Session, name: &str, test: &str) -> Self {
        let opened = Arc::new(AtomicU32::new(0));
        let counter = opened.clone();
        let pool = pool_options(TEST_POOL_MAX)
            .after_connect(move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                Box::pin(async { Ok(()) })
            })
            .connect_lazy_with(session.test_options(name, test));
        Self {
            pool,
            opened,
            named_for: application_name(test),
        }
    }

    /// Names a warm pool kept from an earlier test after the test `test`: the connections
    /// it opens from now on, and its warm one (a round trip, under `cargo test` only).
    async fn rename(
        &mut self,
        session: &Session,
        name: &str,
        test: &str,
    ) -> Result<(), HarnessError> {
        let named = application_name(test);
        if self.named_for == named {
            return Ok(());
        }
        self.pool
            .set_connect_options(session.test_options(name, test));
        let mut conn = session.acquire(&self.pool, name).await?;
        let set = sqlx::raw_sql(sqlx::AssertSqlSafe(set_application_name(test)))
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(HarnessError::sql("naming the test's session"));
        conn.return_to_pool().await;
        set?;
        self.named_for = named;
        Ok(())
    }

    /// Opens the pool's first connection here, where the harness's connections live, and
    /// waits until it is idle in the pool.
    async fn warm_up(&self, session: &Session, name: &str) -> Result<(), HarnessError> {
        let mut conn = session.acquire(&self.pool, name).await?;
        // Returned in place, rather than by a task that the test's first acquire could
        // overtake (which would make the pool open a second connection).
        conn.return_to_pool().await;
        Ok(())
    }

    /// Whether the pool holds nothing but the one idle connection the harness opened.
    fn is_warm(&self) -> bool {
        !self.pool.is_closed()
            && self.opened.load(Ordering::Relaxed) == 1
            && self.pool.size() == 1
            && self.pool.num_idle() == 1
    }
}

/// Waits (up to `grace`) until every connection of `pool` is idle in it. sqlx returns a
/// dropped connection from a task of the runtime that dropped it, after a round trip: on a
/// test's runtime, that task must run before the runtime ends, or the connection is lost
/// with it.
pub(crate) async fn settle(pool: &PgPool, grace: Duration) {
    let started = Instant::now();
    while !pool.is_closed() && pool.num_idle() < pool.size() as usize && started.elapsed() < grace {
        // Let the tasks that return them run, if they can; they wait for the server's answer
        // to their ping, which reaches them through the driver's thread. A timer tick (1 ms
        // or more) would cost more than that round trip, and spinning would take a core from
        // the server: this thread naps for a tenth of a millisecond instead (the tasks are
        // not runnable while it naps, as they wait for the server).
        tokio::task::yield_now().await;
        if pool.num_idle() < pool.size() as usize {
            std::thread::sleep(RETURN_POLL);
        }
    }
}

/// Leases a clean database-mode clone, with its pool ready for the test `test`.
pub(crate) async fn take(session: &Session, test: &str) -> Result<DbClone, HarnessError> {
    let mut clone = match FREE.pop(&session.names.key) {
        Some(mut clone) => {
            clone.lease.record(CloneState::InUse {
                watermark: clone.watermark,
            });
            clone
        }
        None => lease(session, test).await?,
    };
    if home() == Home::Driver {
        if clone.pool.is_warm() {
            clone.pool.rename(session, &clone.name, test).await?;
        } else {
            clone.pool = TestPool::new(session, &clone.name, test);
            clone.pool.warm_up(session, &clone.name).await?;
        }
    }
    Ok(clone)
}

async fn lease(session: &Session, test: &str) -> Result<DbClone, HarnessError> {
    let dir = session.files();
    let key = &session.names.key;
    // A clean clone first: under nextest, the janitor has usually made the clones that
    // earlier tests' processes left used clean again by now.
    for n in 0..super::MAX_CLONES {
        let name = clone_name(DB_CLONE_PREFIX, key, n);
        match Lease::try_take_existing(dir, &name).map_err(lease_error(dir))? {
            Existing::Absent => break,
            Existing::Held => {}
            Existing::Taken(mut lease) => {
                if let CloneState::Clean { watermark } = lease.state() {
                    return hand_out(session, test, name, lease, watermark).await;
                }
            }
        }
    }
    let mut leasing = Leasing::new(session, DB_CLONE_PREFIX);
    loop {
        let (name, mut lease) = leasing.next()?;
        let prepared = match lease.state() {
            CloneState::Clean { watermark } => Ok(watermark),
            CloneState::InUse { watermark } => {
                // Its test died before the reset: do it now.
                match session.connect(&name).await {
                    Ok(mut conn) => {
                        let cleaned = clean(session, &name, &mut conn, watermark).await;
                        let _ = conn.close().await;
                        cleaned.map(|cleaned| cleaned.watermark)
                    }
                    Err(err) if missing(&err) => create_clone(session, &name, true).await,
                    Err(err) => Err(err),
                }
            }
            CloneState::Unknown => create_clone(session, &name, true).await,
        };
        match prepared {
            Ok(watermark) => return hand_out(session, test, name, lease, watermark).await,
            Err(err) if is_capacity(&err) => {
                // Waited for while the lease is still held, then tried from the first clone.
                leasing.no_room(&err)?;
                drop(lease);
            }
            Err(err) => {
                lease.record(CloneState::Unknown);
                return Err(err);
            }
        }
    }
}

/// Hands the clean clone `name` to the test `test`.
async fn hand_out(
    session: &Session,
    test: &str,
    name: String,
    mut lease: Lease,
    watermark: u64,
) -> Result<DbClone, HarnessError> {
    mark("clone lease");
    super::reset::know_profile(session, &name).await?;
    lease.record(CloneState::InUse { watermark });
    mark("reset profile");
    Ok(DbClone {
        pool: TestPool::new(session, &name, test),
        name,
        lease,
        watermark,
    })
}

impl DbClone {
    /// The pool the test gets (connections open on first use; under `cargo test` one is
    /// already open).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool.pool
    }

    /// After the test, where the harness's connections live: makes the clone clean again
    /// and gives it back (kept by this process with its warm pool under `cargo test`;
    /// released otherwise). Under nextest the process ends with its test, and the janitor
    /// resets the clone once its connections are gone (`left_to_janitor`).
    pub(crate) async fn give_back(
        mut self,
        session: &Session,
        left_to_janitor: bool,
    ) -> Result<(), HarnessError> {
        if left_to_janitor {
            // Its connections were closed with the test's runtime.
            return Ok(());
        }
        let watermark = if home() == Home::Driver && self.pool.is_warm() {
            let mut conn = session.acquire(self.pool(), &self.name).await?;
            let cleaned = clean(session, &self.name, &mut conn, self.watermark).await;
            conn.return_to_pool().await;
            drop(conn);
            let cleaned = cleaned?;
            if cleaned.recreated {
                // Its session ended with the old database: the next test warms a new one.
                self.pool.pool.close().await;
            }
            cleaned.watermark
        } else {
            // The test's own connections (opened on its runtime, or still held by a task
            // when it ended) cannot be reused: a session of the harness's own cleans.
            let _ = tokio::time::timeout(RETURN_TIMEOUT, self.pool.pool.close()).await;
            let mut own = session.connect(&self.name).await?;
            let cleaned = clean(session, &self.name, &mut own, self.watermark).await;
            let _ = own.close().await;
            cleaned?.watermark
        };
        self.watermark = watermark;
        self.lease.record(CloneState::Clean { watermark });
        if home() == Home::Driver {
            FREE.push(&session.names.key, self);
        }
        Ok(())
    }

    /// Closes the test's pool, for a handle whose owner closes it from its own runtime
    /// (its tasks may still hold connections: they get [`RETURN_TIMEOUT`]).
    pub(crate) async fn close_pool(&self) {
        let _ = tokio::time::timeout(RETURN_TIMEOUT, self.pool.pool.close()).await;
    }

    /// Ends the lease without making the clone clean: the next holder resets it (a test
    /// handle dropped without being closed), or makes it anew (`Unknown`: a kept database
    /// renamed away).
    pub(crate) fn abandon(mut self, state: Option<CloneState>) {
        if let Some(state) = state {
            self.lease.record(state);
        }
    }
}
