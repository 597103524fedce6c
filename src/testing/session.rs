//! What a test resolves once, and every later test of the process reuses: the server, the
//! template of its schema, and where the clones' leases live.
//!
//! A [`Session`] is made on the first use of a schema (a migrator, or none) in a process and
//! kept for the life of the process: the server and the template never change under it (the
//! template's name is a hash of the schema), so nothing needs to be resolved again.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::error::HarnessError;
use super::home::{Home, home};
use super::schema::Schema;
use super::schema::template::{self, TemplateNames};
use crate::ephemeral::state_dir::ServerFiles;
use crate::ephemeral::{self, Server};
use crate::postgres::{PoolTimeoutCause, diagnose_pool_timeout_by};

/// Connections the harness's own pool of maintenance connections may open (lazily): enough
/// for `cargo test`'s threads on bigger machines.
const ADMIN_POOL_MAX: u32 = 16;

/// The server and the template of one schema, for the tests of one process.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) server: &'static Server,
    pub(crate) names: TemplateNames,
    pub(crate) schema: Schema,
    /// Where this process's connections go, when not to the server itself: the relay of
    /// warm sessions (see [`crate::testing::pool::relay`]), for a process that runs one test.
    relay: Option<&'static std::path::Path>,
}

type Identity = (usize, usize, usize, Option<&'static str>);

impl Session {
    /// The session of `schema` in this process, resolved on first use.
    pub(crate) async fn of(schema: Schema) -> Result<&'static Session, HarnessError> {
        static SESSIONS: Mutex<Option<HashMap<Identity, &'static Session>>> = Mutex::new(None);
        let key = schema.identity();
        let known = SESSIONS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|sessions| sessions.get(&key).copied());
        if let Some(session) = known {
            return Ok(session);
        }
        let server = ephemeral::server().await?;
        crate::testing::timings::mark("server join");
        let session: &'static Session = Box::leak(Box::new(Session {
            server,
            names: TemplateNames::new(schema, server.version()),
            schema,
            // The relay's warm sessions are the superuser's.
            relay: relay(server).filter(|_| schema.role.is_none()),
        }));
        // Two threads may resolve the same schema at once: the first one kept wins, and the
        // other (equal) one is a few bytes leaked once.
        let kept = *SESSIONS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert(session);
        crate::testing::timings::mark("session: template names, relay check");
        Ok(kept)
    }

    /// The server's files in the state directory, where the clones' leases live.
    pub(crate) fn files(&self) -> &'static ServerFiles {
        self.server.files()
    }

    /// Options to connect to `database` on the server (through the relay, if this process
    /// uses one).
    pub(crate) fn options_for(&self, database: &str) -> PgConnectOptions {
        match self.relay {
            Some(dir) => self.server.options_for(database).socket(dir),
            None => self.server.options_for(database),
        }
    }

    /// Options for the test `test`'s own connections to `database`: as
    /// [`Self::options_for`], logged in as the schema's role if it names one (with the
    /// superuser's password, which the role was given when it was made; see
    /// [`template::ensure_role`]), and named after the test ([`application_name`]), so that
    /// `pg_stat_activity` and the lock-wait watchdog tell whose session it is.
    pub(crate) fn test_options(&self, database: &str, test: &str) -> PgConnectOptions {
        let options = self
            .options_for(database)
            .application_name(&application_name(test));
        match self.schema.role {
            Some(role) => options.username(role),
            None => options,
        }
    }

    /// A connection of its own to `database`.
    pub(crate) async fn connect(&self, database: &str) -> Result<PgConnection, HarnessError> {
        PgConnection::connect_with(&self.options_for(database))
            .await
            .map_err(|source| HarnessError::connect(self.server.display_url(database), source))
    }

    /// A connection to the maintenance database.
    pub(crate) async fn admin(&self) -> Result<AdminConnection, HarnessError> {
        if home() != Home::Driver {
            // Nothing outlives the test in this process: no pool to keep warm.
            return Ok(AdminConnection::Own(self.connect("postgres").await?));
        }
        static ADMIN: std::sync::OnceLock<PgPool> = std::sync::OnceLock::new();
        let pool = ADMIN.get_or_init(|| {
            pool_options(ADMIN_POOL_MAX).connect_lazy_with(self.server.admin_options().clone())
        });
        self.acquire(pool, "postgres")
            .await
            .map(AdminConnection::Pooled)
    }

    /// Builds the template if it is missing.
    pub(crate) async fn ensure_template(
        &self,
        admin: &mut PgConnection,
    ) -> Result<(), HarnessError> {
        template::ensure(admin, self.server, &self.names, self.schema).await
    }

    /// `pool.acquire()`, but a pool timeout (an unreachable server looks like one: the pool
    /// retries refused connections) is replaced by what a direct connection attempt reports.
    pub(crate) async fn acquire(
        &self,
        pool: &PgPool,
        database: &str,
    ) -> Result<PoolConnection<Postgres>, HarnessError> {
        match pool.acquire().await {
            Ok(conn) => Ok(conn),
            Err(sqlx::Error::PoolTimedOut) => {
                match diagnose_pool_timeout_by(self.connect(database)).await {
                    PoolTimeoutCause::ServerRefused(err) => Err(err),
                    PoolTimeoutCause::Exhausted(conn) => {
                        let _ = conn.close().await;
                        Err(HarnessError::connect(
                            self.server.display_url(database),
                            sqlx::Error::PoolTimedOut,
                        ))
                    }
                }
            }
            Err(source) => Err(HarnessError::connect(
                self.server.display_url(database),
                source,
            )),
        }
    }
}

/// The relay this process connects through: under nextest (a process runs one test, whose
/// sessions would be new ones), when the server's supervisor runs one. Asked once.
fn relay(server: &'static Server) -> Option<&'static std::path::Path> {
    static RELAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(unix)]
    let runs = || crate::testing::pool::relay::running(server.files());
    #[cfg(not(unix))]
    let runs = || false;
    let used = *RELAY.get_or_init(|| home() == Home::TestRuntime && runs());
    server.relay_dir().filter(|_| used)
}

/// A connection to the maintenance database: from the process's pool when the harness's
/// connections outlive a test, else one of its own.
pub(crate) enum AdminConnection {
    Pooled(PoolConnection<Postgres>),
    Own(PgConnection),
}

impl std::ops::Deref for AdminConnection {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for AdminConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Own(conn) => conn,
        }
    }
}

impl AdminConnection {
    /// Ends the session instead of reusing it: after a failure its state is unknown, and
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

/// The `application_name` of the connections of the test `test`: its name, or its last 63
/// bytes when longer (PostgreSQL keeps no more, and a test's own name is at the end of its
/// path).
pub(crate) fn application_name(test: &str) -> String {
    const KEPT: usize = 63;
    let mut start = test.len().saturating_sub(KEPT);
    while !test.is_char_boundary(start) {
        start += 1;
    }
    test[start..].to_owned()
}

/// `SET application_name` to the name of the test `test`, for a session kept from an
/// earlier test.
pub(crate) fn set_application_name(test: &str) -> String {
    format!(
        "SET application_name = '{}'",
        application_name(test).replace('\'', "''")
    )
}

/// How every pool of the harness behaves (its own, a test's): one policy, so that a test's
/// pool costs what the benchmarks measured.
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
