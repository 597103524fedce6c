//! Databases made for one test and dropped after it: database mode on an external server.
//!
//! An external server may be shared by other machines (CI shards), whose lease files this
//! machine cannot see, so a test there gets a database of its own instead of a pooled clone.
//! A session holds an advisory lock named after the database for as long as the test runs;
//! a database whose lock is free belongs to a dead process, and the next run drops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::testing::error::HarnessError;
use crate::testing::schema::names::{TEST_DB_PREFIX, like_prefix};
use crate::testing::session::{AdminConnection, Session};
use crate::testing::sql::{
    create_from_template, databases_like, drop_database, execute, is_missing_database, locks,
};

/// How long the harness waits for a database's backends to exit before it drops it.
const BACKENDS_TIMEOUT: Duration = Duration::from_secs(5);

/// A database made for one test, owned through the advisory lock its admin session holds.
pub(crate) struct FreshDb {
    pub(crate) name: String,
    admin: AdminConnection,
}

impl std::fmt::Debug for FreshDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshDb").field("name", &self.name).finish()
    }
}

/// Creates a database for one test from the session's template.
pub(crate) async fn create(session: &Session) -> Result<FreshDb, HarnessError> {
    let mut admin = session.admin().await?;
    sweep_once(&mut admin).await;
    session.ensure_template(&mut admin).await?;
    let name = session.names.test_database();
    locks::lock(&mut admin, &name)
        .await
        .map_err(HarnessError::sql("taking the test database's lock"))?;
    let create = create_from_template(session.server, &name, &session.names.template);
    if let Err(err) = execute(&mut admin, create.clone()).await {
        // The template was dropped behind this process's back (a pruning run elsewhere).
        let HarnessError::Sql { source, .. } = &err else {
            return Err(err);
        };
        if !is_missing_database(source) {
            return Err(err);
        }
        crate::testing::schema::template::forget(&session.names);
        session.ensure_template(&mut admin).await?;
        execute(&mut admin, create).await?;
    }
    Ok(FreshDb { name, admin })
}

impl FreshDb {
    /// The session that owns the database, for statements about it (a rename).
    pub(crate) fn admin(&mut self) -> &mut AdminConnection {
        &mut self.admin
    }

    /// Drops the database (its test's connections are closed by now) and ends the lock.
    pub(crate) async fn drop_now(mut self) -> Result<(), HarnessError> {
        wait_for_backends(&mut self.admin, &self.name).await;
        drop_database(&mut self.admin, &self.name).await?;
        self.release().await;
        Ok(())
    }

    /// Ends the lock, leaving the database (renamed away, or dropped).
    pub(crate) async fn release(mut self) {
        if locks::unlock(&mut self.admin, &self.name).await.is_ok() {
            self.admin.release().await;
        } else {
            self.admin.discard();
        }
    }

    /// Hands the database's ownership to a new session of the harness's, opened on the
    /// runtime that runs now: the one that owned it was opened on the test's runtime, which
    /// nextest's process-per-test mode ends before the harness drops or keeps the database
    /// (a connection dies with its runtime). The old session ends first, which releases its
    /// lock, and the new one waits to take it.
    pub(crate) async fn rehome(&mut self, session: &Session) -> Result<(), HarnessError> {
        let admin = session.admin().await?;
        std::mem::replace(&mut self.admin, admin).discard();
        locks::lock(&mut self.admin, &self.name)
            .await
            .map_err(HarnessError::sql("taking the test database's lock"))
    }

    /// Drops the database from a thread of its own, for a handle dropped without being
    /// closed: `Drop` cannot await on the test's runtime (which may be ending).
    pub(crate) fn drop_in_background(self, session: &'static Session) {
        // Ending the owning session releases the lock.
        self.admin.discard();
        let name = self.name;
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = session.connect("postgres").await.ok()?;
                drop_database(&mut admin, &name).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("persistence: could not drop a test database; a later run will");
        }
    }
}

/// Waits until no backend is connected to `name`: a DROP DATABASE issued while the test's
/// backends are still exiting stalls about 100 ms.
pub(crate) async fn wait_for_backends(admin: &mut AdminConnection, name: &str) {
    let deadline = Instant::now() + BACKENDS_TIMEOUT;
    while Instant::now() < deadline {
        let count: Result<i64, _> =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut **admin)
                .await;
        if !matches!(count, Ok(n) if n > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Drops per-test databases whose owner is gone (its session's advisory lock is free).
/// Once per process, before this process takes any such lock.
async fn sweep_once(admin: &mut AdminConnection) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    for name in databases_like(admin, &like_prefix(TEST_DB_PREFIX)).await {
        let free = locks::try_lock(admin, &name).await.unwrap_or(false);
        if free {
            tracing::info!(database = %name, "persistence: dropping a test database whose owner died");
            let _ = drop_database(admin, &name).await;
            let _ = locks::unlock(admin, &name).await;
        }
    }
}
