//! Counting the statements a block of code sends: `assert_queries!`, like Django's
//! `assertNumQueries`.
//!
//! # How statements are counted
//!
//! A [`QueryCounter`] opens a pool to the test's database through a small relay of its own
//! that reads the protocol on its way to the server: a statement is counted when the server
//! receives it, whichever client library, prepared statement or transaction helper sent it.
//! A simple query message counts once (even with several statements in its text); an
//! extended-protocol execution counts once (preparing or describing a statement, which sqlx
//! does before its first execution, is not a statement). Transaction control (`BEGIN`,
//! `COMMIT`, `ROLLBACK`, savepoints) is reported apart, so it can be counted or not.
//!
//! Only connections of the counter are counted: use [`QueryCounter::pool`] or
//! [`QueryCounter::connect`], or code that uses [`global()`](crate::postgres::global), which
//! inside [`QueryCounter::measure`] and `assert_queries!` returns the counter's pool.
//! Everything sent on the counter's connections while the block runs is counted, also by
//! other tasks.
//!
//! Works with every backend (native, docker, external); the relay talks to the server
//! without TLS, so a server that requires TLS cannot be counted. It needs a database its
//! connections may share with the test: use it in database mode (a `PgPool` test); a
//! transaction-mode test's uncommitted rows are invisible to other connections.
//!
//! Other ways were considered: `pg_stat_statements` must be preloaded when the server
//! starts (an external server may not have it) and aggregates across sessions; PostgreSQL
//! keeps no per-session statement counter; the server log (`log_statement = all`) is not
//! readable from every backend; and counting in the client sees only what one library sends.
//!
//! # Example
//!
//! ```rust,no_run
//! use persistence::{assert_queries, db_test};
//! use persistence::testing::QueryCounter;
//! use sqlx::PgPool;
//!
//! #[db_test]
//! async fn names_are_loaded_in_one_query(pool: PgPool) -> anyhow::Result<()> {
//!     let counter = QueryCounter::new(&pool).await?;
//!     let ids = vec![1_i64, 2, 3];
//!     let names: Vec<String> = assert_queries!(counter, 1, async {
//!         sqlx::query_scalar("SELECT name FROM customers WHERE id = ANY($1)")
//!             .bind(&ids)
//!             .fetch_all(counter.pool())
//!             .await
//!     })?;
//!     Ok(())
//! }
//! # fn main() {}
//! ```

mod proxy;
mod statements;
mod wire;

pub use statements::{Queries, QueryCountMismatch, Statement};

use std::future::Future;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::postgres::{GlobalScope, redact_passwords};
use proxy::{Log, Proxy};

/// Connections the counter's pool opens at most, unless built from a pool with another limit.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The counter could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryCountError {
    /// The relay could not listen.
    #[error("the statement counter cannot listen for connections: {0}")]
    Listen(#[source] std::io::Error),
    /// A connection through the relay failed.
    #[error(
        "cannot connect through the statement counter: {message}; the counter relays the \
         protocol without TLS, so a server that requires TLS cannot be counted"
    )]
    Connect {
        /// The error, without any password.
        message: String,
        /// The error sqlx returned.
        #[source]
        source: sqlx::Error,
    },
}

impl QueryCountError {
    fn connect(source: sqlx::Error) -> Self {
        Self::Connect {
            message: redact_passwords(&source.to_string()).into_owned(),
            source,
        }
    }
}

/// Counts the statements the server receives on its connections; see the
/// [module documentation](self).
///
/// Dropping it closes its connections.
#[derive(Debug)]
pub struct QueryCounter {
    pool: PgPool,
    scope: GlobalScope,
    options: PgConnectOptions,
    log: Arc<Log>,
    _proxy: Proxy,
}

impl QueryCounter {
    /// A counter whose pool reaches the database of `pool`, with the same size limit.
    pub async fn new(pool: &PgPool) -> Result<Self, QueryCountError> {
        Self::for_options(
            &pool.connect_options(),
            pool.options().get_max_connections(),
        )
        .await
    }

    /// A counter whose pool (at most `max_connections`) reaches the database of `options`.
    pub async fn for_options(
        options: &PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, QueryCountError> {
        let log = Arc::new(Log::default());
        let (proxy, options) = Proxy::start(options, Arc::clone(&log))
            .await
            .map_err(QueryCountError::Listen)?;
        // Fail here, with the reason, rather than at the first query of the block.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(QueryCountError::connect)?;
        let _ = probe.close().await;
        log.restart_numbering();
        let max_connections = if max_connections == 0 {
            DEFAULT_MAX_CONNECTIONS
        } else {
            max_connections
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // The pool's liveness pings are not statements, but skip them anyway.
            .test_before_acquire(false)
            .connect_lazy_with(options.clone());
        Ok(Self {
            scope: GlobalScope::pool(pool.clone()),
            pool,
            options,
            log,
            _proxy: proxy,
        })
    }

    /// The counter's pool: statements sent through it are counted.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A new connection of the counter's own, outside its pool.
    pub async fn connect(&self) -> Result<PgConnection, QueryCountError> {
        PgConnection::connect_with(&self.options)
            .await
            .map_err(QueryCountError::connect)
    }

    /// Runs `block` and returns its output with what the server received on the counter's
    /// connections meanwhile. Inside the block, `global()` returns the counter's pool.
    pub async fn measure<F: Future>(&self, block: F) -> (F::Output, Queries) {
        let mark = self.log.len();
        // Boxed: a test's futures are polled on its thread's stack, which is small.
        let output = self.scope.clone().run(Box::pin(block)).await;
        (output, Queries::new(self.log.since(mark)))
    }

    /// Every statement received so far.
    pub fn queries(&self) -> Queries {
        Queries::new(self.log.since(0))
    }

    /// What `assert_queries!` calls: runs `block`, then panics with the list of statements
    /// unless the server received `expected` (and, if given, `transaction_control`).
    #[doc(hidden)]
    pub async fn assert_queries_at<F: Future>(
        &self,
        expected: usize,
        transaction_control: Option<usize>,
        block: F,
        location: (&str, u32),
    ) -> F::Output {
        let (output, queries) = Box::pin(self.measure(block)).await;
        if let Err(mismatch) = queries.check(expected, transaction_control) {
            panic!(
                "assert_queries! at {}:{}: {mismatch}",
                location.0, location.1
            );
        }
        output
    }

    /// Closes the counter's pool, waiting for its connections to end.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Runs a block (a future) and asserts how many statements the server received on the
/// counter's connections meanwhile; on failure, panics with their SQL. Evaluates to the
/// block's output.
///
/// - `assert_queries!(counter, n, block)`: `n` statements, transaction control (`BEGIN`,
///   `COMMIT`, savepoints...) not counted;
/// - `assert_queries!(counter, n, transaction_control = m, block)`: and `m` of those.
///
/// ```text
/// assert_queries! at tests/orders.rs:40: expected 1 statement, the server received 3 (and 0 transaction control, not counted):
///   1. [connection 1] SELECT name FROM customers WHERE id = $1
///   2. [connection 1] SELECT name FROM customers WHERE id = $1
///   3. [connection 1] SELECT name FROM customers WHERE id = $1
/// ```
///
/// See [`QueryCounter`] for what is counted.
// Exported at the crate root, outside the `testing` module whose mark docs.rs shows.
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
#[macro_export]
macro_rules! assert_queries {
    ($counter:expr, $expected:expr, transaction_control = $control:expr, $block:expr $(,)?) => {
        $counter
            .assert_queries_at(
                $expected,
                ::core::option::Option::Some($control),
                $block,
                (::core::file!(), ::core::line!()),
            )
            .await
    };
    ($counter:expr, $expected:expr, $block:expr $(,)?) => {
        $counter
            .assert_queries_at(
                $expected,
                ::core::option::Option::None,
                $block,
                (::core::file!(), ::core::line!()),
            )
            .await
    };
}
