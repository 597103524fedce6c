//! Database isolation: a database of its own per test, cloned from the template.
//!
//! On a server the harness started, the database is a pooled clone ([`super::clones`]),
//! reset after the test. On an external server, which other machines may share, it is
//! created for the test and dropped after it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::clones::{DbClone, TEST_POOL_MAX, take_db};
use super::connections::{HarnessConnection, PoolPolicy, Target, pool_options};
use super::context::harness;
use super::error::HarnessError;
use super::fixtures;
use super::janitor::JANITOR_APPLICATION;
use super::leases::CloneState;
use super::locks;
use super::names::{TEST_DB_PREFIX, kept_name, like_prefix};
use super::spec::TestSpec;
use super::sql::{
    create_from_template, databases_like, drop_database, execute, is_missing_database,
};
use crate::ephemeral::BackendKind;

/// How long the harness waits for the test's pool to close and its backends to exit.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A database of its own for one test, cloned from the migrated template; no other running
/// test touches it, and nothing of it is seen by the next test.
///
/// `#[db_test]` builds one for tests that take a pool; build one yourself with
/// [`TestDb::create`], e.g. in an rstest fixture. On a server the harness started it is a
/// pooled clone, leased for the test and reset (or recreated) after it; on an external
/// server it is created for the test and dropped after it, and a session holds an advisory
/// lock named after it so that, if the process dies, a later run drops it.
#[derive(Debug, Clone)]
pub struct TestDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    url: String,
    options: PgConnectOptions,
    pool: PgPool,
    owner: Mutex<Option<Owner>>,
}

struct Owner {
    target: Target,
    pools: PoolPolicy,
    backing: Backing,
}

/// Where the database came from, which says how it ends.
enum Backing {
    /// A pooled clone, given back after the test.
    Clone(DbClone),
    /// A database made for this test (external servers), dropped after it; the connection
    /// holds its advisory lock.
    Fresh(HarnessConnection),
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("template", &self.target.names.template)
            .finish()
    }
}

impl TestDb {
    /// Creates a database for `spec` (its migrations and fixtures; isolation is ignored).
    ///
    /// The database is dropped by [`TestDb::close`], or, if it is never called, when the
    /// last clone of the handle is dropped (which blocks that thread for the drop).
    pub async fn create(spec: &TestSpec) -> Result<Self, HarnessError> {
        Self::create_with(spec, PoolPolicy::Own).await
    }

    /// Creates a database for `spec` whose connections follow `pools`.
    pub(crate) async fn create_with(
        spec: &TestSpec,
        pools: PoolPolicy,
    ) -> Result<Self, HarnessError> {
        let target = Target::resolve(spec.migrations).await?;
        let (name, pool, backing) = if target.server.backend() == BackendKind::External {
            let (name, admin) = create_fresh(&target, pools).await?;
            let pool =
                pool_options(TEST_POOL_MAX).connect_lazy_with(target.server.options_for(&name));
            (name, pool, Backing::Fresh(admin))
        } else {
            let mut clone = take_db(&target, pools).await?;
            let pool = clone.pool(&target, pools);
            (clone.name.clone(), pool, Backing::Clone(clone))
        };
        let db = Self {
            inner: Arc::new(Inner {
                url: target.server.display_url(&name),
                options: target.server.options_for(&name),
                name,
                pool,
                owner: Mutex::new(Some(Owner {
                    target,
                    pools,
                    backing,
                })),
            }),
        };
        if !spec.fixtures.is_empty() {
            let mut conn = db
                .inner
                .pool
                .acquire()
                .await
                .map_err(|source| HarnessError::connect(db.inner.url.clone(), source))?;
            fixtures::apply(&mut conn, spec.fixtures).await?;
        }
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

    /// A pool connected to the database (connections open on first use).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Options to connect to the database yourself.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.inner.options.clone()
    }

    /// Closes the pool and drops the database now.
    pub async fn close(self) -> Result<(), HarnessError> {
        self.finish(false).await
    }

    /// Ends the test's use of the database: made clean for the next test (a clone) or
    /// dropped, or kept if the test failed and `PERSISTENCE_TEST_KEEP=failed`.
    pub(crate) async fn finish(self, failed: bool) -> Result<(), HarnessError> {
        let owner = self
            .inner
            .owner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(Owner {
            target,
            pools,
            backing,
        }) = owner
        else {
            return Ok(());
        };
        let name = &self.inner.name;
        match backing {
            Backing::Clone(clone) if failed && keep_failed() => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.inner.pool.close()).await;
                let mut admin = HarnessConnection::admin(&target, pools).await?;
                let kept = keep(&mut admin, &target, name).await;
                // Renamed away (or half-way): the next holder of the lease makes it anew.
                clone.abandon(Some(CloneState::Unknown));
                kept
            }
            Backing::Clone(clone) => clone.give_back(&target, pools, &self.inner.pool).await,
            Backing::Fresh(mut admin) => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.inner.pool.close()).await;
                if failed && keep_failed() {
                    keep(&mut admin, &target, name).await?;
                } else {
                    wait_for_backends(&mut admin, name).await;
                    drop_database(&mut admin, name).await?;
                }
                let unlocked = locks::unlock(&mut admin, name).await;
                if unlocked.is_err() {
                    admin.discard();
                }
                Ok(())
            }
        }
    }
}

/// Creates a database for one test on an external server, owned through an advisory lock
/// held by the returned admin session.
async fn create_fresh(
    target: &Target,
    pools: PoolPolicy,
) -> Result<(String, HarnessConnection), HarnessError> {
    let mut admin = HarnessConnection::admin(target, pools).await?;
    sweep_once(&mut admin).await;
    target.ensure_template(&mut admin).await?;
    let name = target.names.test_database();
    locks::lock(&mut admin, &name)
        .await
        .map_err(HarnessError::sql("taking the test database's lock"))?;
    let create = create_from_template(target.server, &name, &target.names.template);
    if let Err(err) = execute(&mut admin, create.clone()).await {
        // The template was dropped behind this process's back (a pruning run elsewhere).
        let HarnessError::Sql { source, .. } = &err else {
            return Err(err);
        };
        if !is_missing_database(source) {
            return Err(err);
        }
        super::template::forget(&target.names);
        target.ensure_template(&mut admin).await?;
        execute(&mut admin, create).await?;
    }
    Ok((name, admin))
}

/// Renames a failed test's database out of the harness's way and prints where it is.
async fn keep(
    admin: &mut HarnessConnection,
    target: &Target,
    name: &str,
) -> Result<(), HarnessError> {
    end_janitor_session(admin, name).await;
    wait_for_backends(admin, name).await;
    let kept = kept_name(name);
    // Recorded first: whatever happens to this process next, the server stays for it.
    target.server.hold_for(&kept)?;
    execute(admin, format!("ALTER DATABASE {name} RENAME TO {kept}")).await?;
    let url = target.server.display_url(&kept);
    eprintln!(
        "persistence: kept the database of this failed test: {url} (drop it with DROP DATABASE \
         when done; the server stays until then, or until `persistence test-server stop`); \
         browse it: {}",
        studio_command(&url, &kept),
    );
    Ok(())
}

/// The `persistence studio` command that opens a kept database. The URL is printed only if
/// it has no password (the harness's own servers trust loopback); an external server's is
/// masked, so the command takes it from `TEST_DATABASE_URL` in the user's shell instead.
fn studio_command(display_url: &str, kept: &str) -> String {
    if display_url.contains(":***@") {
        format!("persistence studio --database-url \"$TEST_DATABASE_URL\" --database {kept}")
    } else {
        format!("persistence studio --database-url '{display_url}'")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let owner = self
            .owner
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(Owner {
            target, backing, ..
        }) = owner
        else {
            return;
        };
        let admin = match backing {
            // Not closed explicitly (e.g. an rstest fixture): its lease says "in use", so
            // the next test that takes it resets it first.
            Backing::Clone(clone) => return clone.abandon(None),
            Backing::Fresh(admin) => admin,
        };
        // End the owning session, which releases the lock, and drop the database from a
        // thread of our own, since Drop cannot await on the test's runtime (which may
        // already be shutting down).
        admin.discard();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = HarnessConnection::admin(&target, PoolPolicy::Own)
                    .await
                    .ok()?;
                drop_database(&mut admin, &name).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!(
                "persistence: could not drop test database {}; a later run will",
                self.name
            );
        }
    }
}

/// Waits until no backend is connected to `name`: a DROP DATABASE issued while the test's
/// backends are still exiting stalls about 100 ms.
/// Ends the janitor's idle session in the clone `name` (it stays between resets: see
/// [`super::janitor`]), which would keep the clone from being renamed. The janitor only
/// connects to a clone whose lease it holds, so it does not come back.
async fn end_janitor_session(admin: &mut HarnessConnection, name: &str) {
    let _ = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = $2",
    )
    .bind(name)
    .bind(JANITOR_APPLICATION)
    .execute(&mut **admin)
    .await;
}

async fn wait_for_backends(admin: &mut HarnessConnection, name: &str) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
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

fn keep_failed() -> bool {
    std::env::var("PERSISTENCE_TEST_KEEP").is_ok_and(|v| v.trim().eq_ignore_ascii_case("failed"))
}

/// Drops per-test databases whose owner is gone (its session's advisory lock is free).
/// Once per process, before this process takes any such lock.
async fn sweep_once(admin: &mut HarnessConnection) {
    if harness().swept_test_databases.swap(true, Ordering::SeqCst) {
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

#[cfg(test)]
mod tests {
    use super::studio_command;

    #[test]
    fn the_studio_command_of_a_kept_database_never_holds_a_password() {
        assert_eq!(
            studio_command(
                "postgres://postgres@127.0.0.1:5/persistence_keep_x",
                "persistence_keep_x"
            ),
            "persistence studio --database-url 'postgres://postgres@127.0.0.1:5/persistence_keep_x'"
        );
        let external = studio_command(
            "postgres://app:***@db:5432/persistence_keep_x",
            "persistence_keep_x",
        );
        assert_eq!(
            external,
            "persistence studio --database-url \"$TEST_DATABASE_URL\" --database persistence_keep_x"
        );
    }
}
