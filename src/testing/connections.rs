//! Connections to the test server, pooled per process on the shared runtime.
//!
//! Pools belong to the runtime that created them, so only tests on the shared runtime use
//! the pools kept here; a test on a runtime of its own gets plain connections.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::context::harness;
use super::error::HarnessError;
use super::spec::{Migrations, RuntimeFlavor};
use super::template::{self, TemplateNames};
use crate::ephemeral::{self, Server};
use crate::postgres::{PoolTimeoutCause, diagnose_pool_timeout_by};

/// Enough for `cargo test`'s threads on bigger machines; connections open lazily, so a
/// process running one test (nextest) opens one.
const POOL_MAX: u32 = 16;

/// Which connections a test may use, apart from the runtime it runs on (though derived from
/// it for `#[db_test]`s: see [`PoolPolicy::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolPolicy {
    /// The process-wide pools and the clones a process keeps, with their warm connections,
    /// between its tests.
    ProcessWide,
    /// Connections of the test's own, closed (and clones given up) after it.
    Own,
}

impl PoolPolicy {
    /// What a test on the runtime `flavor` may use. Pools belong to the runtime that created
    /// them: only the shared runtime outlives a test, so only its tests may share pools.
    pub(crate) fn of(flavor: RuntimeFlavor) -> Self {
        match flavor {
            RuntimeFlavor::Shared => Self::ProcessWide,
            RuntimeFlavor::CurrentThread | RuntimeFlavor::MultiThread { .. } => Self::Own,
        }
    }
}

/// The server and the template names of one test.
pub(crate) struct Target {
    pub(crate) server: &'static Server,
    pub(crate) names: TemplateNames,
    pub(crate) migrations: Migrations,
}

impl Target {
    pub(crate) async fn resolve(migrations: Migrations) -> Result<Self, HarnessError> {
        let server = ephemeral::server().await?;
        let names = TemplateNames::new(migrations, server.version());
        Ok(Self {
            server,
            names,
            migrations,
        })
    }

    /// Builds the template if it is missing.
    pub(crate) async fn ensure_template(
        &self,
        admin: &mut PgConnection,
    ) -> Result<(), HarnessError> {
        template::ensure(admin, self.server, &self.names, self.migrations).await
    }
}

pub(crate) async fn connect(
    server: &Server,
    options: &PgConnectOptions,
    database: &str,
) -> Result<PgConnection, HarnessError> {
    PgConnection::connect_with(options)
        .await
        .map_err(|source| HarnessError::connect(server.display_url(database), source))
}

/// A connection the harness hands out: pooled on the shared runtime (pools belong to the
/// runtime that made them), a connection of its own on any other runtime.
pub(crate) enum HarnessConnection {
    Pooled(PoolConnection<Postgres>),
    Own(PgConnection),
}

impl std::ops::Deref for HarnessConnection {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for HarnessConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl HarnessConnection {
    /// A connection to the maintenance database.
    pub(crate) async fn admin(target: &Target, pools: PoolPolicy) -> Result<Self, HarnessError> {
        let server = target.server;
        if pools != PoolPolicy::ProcessWide {
            return Ok(Self::Own(
                connect(server, server.admin_options(), "postgres").await?,
            ));
        }
        let pool = harness().admin_pool.get_or_init(|| {
            pool_options(POOL_MAX).connect_lazy_with(server.admin_options().clone())
        });
        acquire(pool, server, server.admin_options(), "postgres")
            .await
            .map(Self::Pooled)
    }

    /// Ends the session instead of reusing it: after a panic its state is unknown, and
    /// ending it releases any advisory lock it holds.
    pub(crate) fn discard(self) {
        match self {
            Self::Pooled(conn) => drop(conn.detach()),
            Self::Own(conn) => drop(conn),
        }
    }

    /// Returns the connection to its pool, or closes it politely.
    pub(crate) async fn release(self) {
        match self {
            Self::Pooled(conn) => drop(conn),
            Self::Own(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}

/// `pool.acquire()`, but a pool timeout (an unreachable server looks like one: the pool retries
/// refused connections) is replaced by what a direct connection attempt reports.
pub(crate) async fn acquire(
    pool: &PgPool,
    server: &Server,
    options: &PgConnectOptions,
    database: &str,
) -> Result<PoolConnection<Postgres>, HarnessError> {
    match pool.acquire().await {
        Ok(conn) => Ok(conn),
        Err(sqlx::Error::PoolTimedOut) => {
            match diagnose_pool_timeout_by(connect(server, options, database)).await {
                PoolTimeoutCause::ServerRefused(err) => Err(err),
                PoolTimeoutCause::Exhausted(conn) => {
                    let _ = conn.close().await;
                    Err(HarnessError::connect(
                        server.display_url(database),
                        sqlx::Error::PoolTimedOut,
                    ))
                }
            }
        }
        Err(source) => Err(HarnessError::connect(server.display_url(database), source)),
    }
}

/// How every pool of the harness behaves (the shared ones above, a test's own, a leased
/// clone's): one policy, so that a test's pool costs what the benchmarks measured.
pub(crate) fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // sqlx retries refused connections until this deadline; 30 s is long to wait for
        // a test to say that TEST_DATABASE_URL is wrong.
        .acquire_timeout(std::time::Duration::from_secs(5))
        // The server is ours for the run: keep connections warm rather than recycle them.
        .idle_timeout(None)
        .max_lifetime(None)
        // sqlx pings a connection on every acquire by default, a round trip for each query
        // the test runs through its pool. It already pings on every release, which finds a
        // connection the test broke; one the server dropped while idle is not a case here
        // (the server lives as long as the run, and a recreated clone's pool is closed).
        .test_before_acquire(false)
}
