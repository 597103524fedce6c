//! [`transaction`]: run a closure in a transaction that commits on `Ok` and rolls back on `Err`
//! or panic, nests as a savepoint, and can rerun itself after a serialization failure.
//!
//! ```no_run
//! # async fn run(pool: sqlx::PgPool) -> Result<(), persistence::postgres::Error> {
//! use persistence::postgres::{transaction, IsolationLevel, RetryPolicy, TransactionOptions};
//!
//! let options = TransactionOptions::new()
//!     .isolation(IsolationLevel::Serializable)
//!     .retry(RetryPolicy::new(5));
//! let moved: u64 = transaction(&pool, options, async |tx| {
//!     sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
//!         .execute(&mut *tx)
//!         .await?;
//!     let done = sqlx::query("UPDATE accounts SET balance = balance + 10 WHERE id = 2")
//!         .execute(&mut *tx)
//!         .await?;
//!     Ok::<_, persistence::postgres::Error>(done.rows_affected())
//! })
//! .await?;
//! # Ok(()) }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, Postgres};
use sqlx::{AssertSqlSafe, Connection};

use super::ErrorCategory;
use super::error::{Error, Kind, category_in_chain};

/// The SQL isolation levels PostgreSQL implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// Each statement sees data committed before it started (PostgreSQL's default).
    ReadCommitted,
    /// The transaction sees one snapshot; concurrent updates of the same row fail with 40001.
    RepeatableRead,
    /// As if transactions ran one at a time; anomalies fail with 40001.
    Serializable,
}

impl IsolationLevel {
    /// The SQL spelling (`REPEATABLE READ`).
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::ReadCommitted => "READ COMMITTED",
            Self::RepeatableRead => "REPEATABLE READ",
            Self::Serializable => "SERIALIZABLE",
        }
    }
}

/// How many times to run a transaction that failed with a conflict (SQLSTATE 40001 or 40P01),
/// and how long to wait in between: exponential backoff with jitter.
///
/// The wait before attempt `n + 1` is drawn uniformly from `[d/2, d]`, where
/// `d = min(max_delay, base_delay * 2^(n-1))`: half of it guarantees the backoff, the random
/// half spreads out the transactions that collided so they do not collide again.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistence::postgres::RetryPolicy;
///
/// // At most 4 attempts; after the 2nd failed one, a wait of 10 to 20 ms.
/// let policy = RetryPolicy::new(4).base_delay(Duration::from_millis(10));
/// assert_eq!(policy.max_attempts(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl RetryPolicy {
    /// Runs the transaction at most `max_attempts` times in all (at least once).
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            // A conflicting transaction usually finishes within milliseconds.
            base_delay: Duration::from_millis(20),
            // Beyond this, waiting longer helps less than failing and letting the caller decide.
            max_delay: Duration::from_secs(1),
        }
    }

    /// The wait after the first failed attempt, doubled after each further one (default 20 ms).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest wait between attempts (default 1 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The number of attempts, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt number `attempt` (1-based), given `jitter` in `[0, 1]`.
    pub(crate) fn delay_before_retry(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let half = ceiling / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

impl Default for RetryPolicy {
    /// Three attempts in all.
    fn default() -> Self {
        Self::new(3)
    }
}

/// How [`transaction`] begins and runs the transaction.
///
/// Isolation, access mode, deferrability and timeouts apply to a top-level transaction. A
/// nested call (a savepoint) runs inside its parent and inherits all of them: PostgreSQL
/// cannot change them mid-transaction, and a retry of a nested part alone cannot help, since
/// a conflict dooms the whole transaction. The outermost call owns these settings.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistence::postgres::{IsolationLevel, TransactionOptions};
///
/// // BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE; SET LOCAL statement_timeout = 5000
/// // (one round trip).
/// let options = TransactionOptions::new()
///     .isolation(IsolationLevel::Serializable)
///     .read_only(true)
///     .deferrable(true)
///     .statement_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionOptions {
    isolation: Option<IsolationLevel>,
    read_only: bool,
    deferrable: bool,
    statement_timeout: Option<Duration>,
    idle_in_transaction_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl TransactionOptions {
    /// The server's defaults, no retry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The isolation level (default: the server's, normally READ COMMITTED).
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// Forbids writes; lets the server skip some bookkeeping.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// For SERIALIZABLE READ ONLY transactions: wait for a safe snapshot once at the start
    /// instead of risking a serialization failure later (ignored by the server otherwise).
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = deferrable;
        self
    }

    /// `SET LOCAL statement_timeout` for this transaction only (rounded up to whole
    /// milliseconds, at most about 24.8 days).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// `SET LOCAL idle_in_transaction_session_timeout`: the server ends the session if the
    /// transaction sits idle (e.g. the code awaits something else) longer than this.
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = Some(timeout);
        self
    }

    /// Reruns the whole closure after a serialization failure or deadlock.
    ///
    /// The closure must then be safe to run more than once: no side effects outside the
    /// database (or idempotent ones).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The statement that begins a top-level transaction with these options. The `SET LOCAL`s
    /// travel in the same simple query as `BEGIN`, so the options cost no extra round trip.
    pub(crate) fn begin_sql(&self) -> String {
        let mut characteristics = Vec::new();
        if let Some(level) = self.isolation {
            characteristics.push(format!("ISOLATION LEVEL {}", level.as_sql()));
        }
        if self.read_only {
            characteristics.push("READ ONLY".to_owned());
        }
        if self.deferrable {
            characteristics.push("DEFERRABLE".to_owned());
        }
        let mut sql = String::from("BEGIN");
        if !characteristics.is_empty() {
            sql.push(' ');
            sql.push_str(&characteristics.join(", "));
        }
        for (setting, value) in [
            ("statement_timeout", self.statement_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_timeout,
            ),
        ] {
            if let Some(timeout) = value {
                sql.push_str(&format!(
                    "; SET LOCAL {setting} = {}",
                    timeout_millis(timeout)
                ));
            }
        }
        sql
    }
}

/// A timeout in whole milliseconds for `SET`: at least 1 (0 would mean "no limit") and at most
/// `i32::MAX` (PostgreSQL's limit).
fn timeout_millis(timeout: Duration) -> u128 {
    let nanos = timeout.as_nanos();
    nanos.div_ceil(1_000_000).clamp(1, i32::MAX as u128)
}

/// Transaction nesting, read from the connection (sqlx tracks it).
pub trait TransactionDepth {
    /// 0 outside a transaction, 1 in a transaction, 2 and more inside savepoints.
    fn transaction_depth(&self) -> usize;

    /// True inside a savepoint, i.e. in a transaction that is itself inside a transaction.
    fn is_nested(&self) -> bool {
        self.transaction_depth() > 1
    }
}

impl TransactionDepth for PgConnection {
    fn transaction_depth(&self) -> usize {
        // sqlx does not re-export this trait; it lives in sqlx-core.
        use sqlx_core::transaction::TransactionManager as _;
        <Postgres as sqlx::Database>::TransactionManager::get_transaction_depth(self)
    }
}

/// What a transaction runs on: a pool (a connection is acquired for it) or a connection,
/// which may already be in a transaction (the new one is then a savepoint).
///
/// Built by `From` for `&PgPool`, `&mut PgConnection`, `&mut PoolConnection<Postgres>` and
/// `&mut Transaction<Postgres>`, so [`transaction`] takes any of them directly.
pub enum TransactionTarget<'a> {
    /// Acquire a connection from this pool.
    Pool(&'a PgPool),
    /// Use this connection.
    Connection(&'a mut PgConnection),
}

impl<'a> From<&'a PgPool> for TransactionTarget<'a> {
    fn from(pool: &'a PgPool) -> Self {
        Self::Pool(pool)
    }
}

impl<'a> From<&'a mut PgConnection> for TransactionTarget<'a> {
    fn from(connection: &'a mut PgConnection) -> Self {
        Self::Connection(connection)
    }
}

impl<'a> From<&'a mut PoolConnection<Postgres>> for TransactionTarget<'a> {
    fn from(connection: &'a mut PoolConnection<Postgres>) -> Self {
        Self::Connection(connection)
    }
}

impl<'a, 't> From<&'a mut sqlx::Transaction<'t, Postgres>> for TransactionTarget<'a> {
    fn from(transaction: &'a mut sqlx::Transaction<'t, Postgres>) -> Self {
        Self::Connection(transaction)
    }
}

/// Runs `body` in a transaction on `target` (a `&PgPool`, `&mut PgConnection`,
/// `&mut PoolConnection` or `&mut Transaction`): commits if it returns `Ok`, rolls back if it
/// returns `Err` or panics (the panic then continues).
///
/// If the connection is already in a transaction, the body runs in a SAVEPOINT instead, and
/// [`TransactionDepth::is_nested`] on the connection says so; the savepoint is released on
/// `Ok` and rolled back to on `Err`, leaving the outer transaction usable.
///
/// With [`TransactionOptions::retry`], a top-level transaction whose body or commit fails
/// with a conflict (40001, 40P01) is rolled back and run again after a backoff. A connection
/// lost during `COMMIT` is an error of category [`ErrorCategory::CommitOutcomeUnknown`], never
/// retried.
///
/// The body's error type `E` must absorb this crate's [`Error`] (for begin/commit failures),
/// and its source chain is searched for a conflict ([`TransactionError`]): use [`Error`]
/// itself, your own error type with a `#[from] persistence::postgres::Error`, or
/// `anyhow::Error` (the body returns `anyhow::Result<T>`).
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> anyhow::Result<()> {
/// use anyhow::Context;
/// use persistence::postgres::{RetryPolicy, TransactionOptions, transaction};
///
/// let options = TransactionOptions::new().retry(RetryPolicy::new(3));
/// let count: i64 = transaction(&pool, options, async |tx| {
///     let count = sqlx::query_scalar("SELECT count(*) FROM orders")
///         .fetch_one(&mut *tx)
///         .await
///         .context("counting orders")?; // a conflict is still found, and retried
///     anyhow::Ok(count)
/// })
/// .await?;
/// # Ok(()) }
/// ```
///
/// # `Send`
///
/// The returned future is `Send` when the closure owns what it captures (`async move |tx|`
/// with owned or `Arc` data). When it *borrows* from its environment, rustc (1.95) cannot
/// prove the future `Send` ("implementation of `Send` is not general enough"); that only
/// matters where a `Send` future is required (`tokio::spawn`, web handlers). There, either
/// move owned data into the closure or use [`transaction_boxed`].
pub async fn transaction<'a, F, T, E, Via>(
    target: impl Into<TransactionTarget<'a>>,
    options: TransactionOptions,
    body: F,
) -> Result<T, E>
where
    F: AsyncFnMut(&mut PgConnection) -> Result<T, E>,
    E: TransactionError<Via>,
{
    run(target.into(), &options, &mut AsyncClosure(body)).await
}

/// What a transaction body may fail with: an error type that converts from this crate's
/// [`Error`] (for failures of `BEGIN` and `COMMIT`) and whose source chain [`transaction`] can
/// walk, as `std::error::Error`s, for a conflict (40001, 40P01) that decides a retry:
///
/// - a standard error ([`IsStdError`]): [`Error`] itself, or a type of your own with
///   `#[from] persistence::postgres::Error`;
/// - a type that dereferences to `dyn std::error::Error + Send + Sync`
///   ([`DerefsToStdError`]): `anyhow::Error`, `eyre::Report`,
///   `Box<dyn std::error::Error + Send + Sync>`.
///
/// Implemented for every such type; `Via` is inferred, never written.
pub trait TransactionError<Via>: From<Error> + fmt::Display {
    /// The error as a standard error, whose `source()` chain is searched.
    fn as_std_error(&self) -> &(dyn StdError + 'static);
}

/// How a [`TransactionError`] that is a standard error is searched: as itself.
pub enum IsStdError {}

/// How a [`TransactionError`] that dereferences to a standard error (`anyhow::Error`) is
/// searched: through its `Deref`.
pub enum DerefsToStdError {}

impl<E> TransactionError<IsStdError> for E
where
    E: StdError + From<Error> + 'static,
{
    fn as_std_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl<E> TransactionError<DerefsToStdError> for E
where
    E: Deref<Target = dyn StdError + Send + Sync + 'static> + From<Error> + fmt::Display,
{
    fn as_std_error(&self) -> &(dyn StdError + 'static) {
        &**self
    }
}

/// Ties a [`transaction_boxed`] body's connection borrow (`'c`) to the call (`'env`): its
/// type implies `'env: 'c`, which lets the body's future borrow anything that outlives the call.
pub struct Scope<'c, 'env>(PhantomData<&'c &'env ()>);

/// The future a [`transaction_boxed`] body returns.
pub type BoxedBody<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// [`transaction`] for bodies that borrow from their environment and must be `Send`: the
/// body returns a boxed `Send` future, so the compiler needs no help to prove the whole
/// future `Send`.
///
/// # Example
/// ```no_run
/// # async fn handler(pool: sqlx::PgPool, name: String) -> Result<(), persistence::postgres::Error> {
/// use persistence::postgres::{transaction_boxed, TransactionOptions};
///
/// let name = &name; // borrowed, not moved, by the body
/// transaction_boxed(&pool, TransactionOptions::new(), |tx, _scope| {
///     Box::pin(async move {
///         sqlx::query("INSERT INTO customers (name) VALUES ($1)").bind(name).execute(&mut *tx).await?;
///         Ok::<_, persistence::postgres::Error>(())
///     })
/// })
/// .await
/// # }
/// ```
pub async fn transaction_boxed<'a, 'env, F, T, E, Via>(
    target: impl Into<TransactionTarget<'a>>,
    options: TransactionOptions,
    body: F,
) -> Result<T, E>
where
    F: for<'c> FnMut(&'c mut PgConnection, Scope<'c, 'env>) -> BoxedBody<'c, Result<T, E>> + Send,
    E: TransactionError<Via>,
{
    let mut body = body;
    // A trait object, not the generic `F`: proving the whole future `Send` then needs no
    // where-clause about `'env`, which is what trips rustc in the generic form.
    let mut boxed = BoxedClosure { body: &mut body };
    run(target.into(), &options, &mut boxed).await
}

/// The two forms of transaction body, behind one interface so one loop runs both.
trait Body<T, E> {
    fn call<'c>(
        &'c mut self,
        connection: &'c mut PgConnection,
    ) -> impl Future<Output = Result<T, E>>;
}

struct AsyncClosure<F>(F);

impl<F, T, E> Body<T, E> for AsyncClosure<F>
where
    F: AsyncFnMut(&mut PgConnection) -> Result<T, E>,
{
    fn call<'c>(
        &'c mut self,
        connection: &'c mut PgConnection,
    ) -> impl Future<Output = Result<T, E>> {
        (self.0)(connection)
    }
}

type DynBody<'b, 'env, T, E> = dyn for<'c> FnMut(&'c mut PgConnection, Scope<'c, 'env>) -> BoxedBody<'c, Result<T, E>>
    + Send
    + 'b;

struct BoxedClosure<'b, 'env, T, E> {
    body: &'b mut DynBody<'b, 'env, T, E>,
}

impl<T, E> Body<T, E> for BoxedClosure<'_, '_, T, E> {
    fn call<'c>(
        &'c mut self,
        connection: &'c mut PgConnection,
    ) -> impl Future<Output = Result<T, E>> {
        (self.body)(connection, Scope(PhantomData))
    }
}

async fn run<T, E, Via>(
    target: TransactionTarget<'_>,
    options: &TransactionOptions,
    body: &mut impl Body<T, E>,
) -> Result<T, E>
where
    E: TransactionError<Via>,
{
    match target {
        TransactionTarget::Pool(pool) => {
            let mut connection = super::client::acquire(pool).await.map_err(E::from)?;
            run_with_retries(&mut connection, options, body).await
        }
        TransactionTarget::Connection(connection) => {
            run_with_retries(connection, options, body).await
        }
    }
}

async fn run_with_retries<T, E, Via>(
    connection: &mut PgConnection,
    options: &TransactionOptions,
    body: &mut impl Body<T, E>,
) -> Result<T, E>
where
    E: TransactionError<Via>,
{
    let nested = connection.transaction_depth() > 0;
    let policy = if nested { None } else { options.retry };
    let mut attempt = 1;
    loop {
        let error = match run_once(connection, options, nested, body).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(policy) = policy.filter(|p| attempt < p.max_attempts()) else {
            return Err(error);
        };
        if category_in_chain(error.as_std_error()) != Some(ErrorCategory::Conflict) {
            return Err(error);
        }
        let delay = policy.delay_before_retry(attempt, rand::random::<f64>());
        tracing::info!(
            target: "persistence::transaction",
            attempt,
            max_attempts = policy.max_attempts(),
            delay_ms = super::client::millis(delay),
            error = %error,
            "transaction conflict; running it again"
        );
        // Not held across the wait: the future stays `Send` whatever the error type.
        drop(error);
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// One attempt: begin (or savepoint), body, commit (or release); rollback on error or panic.
async fn run_once<T, E>(
    connection: &mut PgConnection,
    options: &TransactionOptions,
    nested: bool,
    body: &mut impl Body<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    let begun = if nested {
        Connection::begin(connection).await
    } else {
        Connection::begin_with(connection, AssertSqlSafe(options.begin_sql())).await
    };
    let mut tx = begun.map_err(|e| E::from(Error::from(e)))?;

    let result = AssertUnwindSafe(body.call(&mut tx)).catch_unwind().await;
    match result {
        Ok(Ok(value)) => match tx.commit().await {
            Ok(()) => Ok(value),
            Err(error) => Err(E::from(commit_error(error, nested))),
        },
        Ok(Err(error)) => {
            if let Err(rollback) = tx.rollback().await {
                // The body's error is the one to report; a broken connection usually explains both.
                tracing::debug!(target: "persistence::transaction", error = %rollback, "rollback failed");
            }
            Err(error)
        }
        Err(panic) => {
            let _ = tx.rollback().await;
            std::panic::resume_unwind(panic)
        }
    }
}

/// Sorts a failed COMMIT: if the server answered with an ordinary error, the transaction was
/// rolled back (e.g. a serialization failure or a deferred constraint) and the error says why.
/// If the connection broke, or the server died mid-way (57P02 is sent from a signal handler,
/// possibly after the commit record reached the disk), nobody knows whether it committed.
fn commit_error(error: sqlx::Error, nested: bool) -> Error {
    let outcome_known = match &error {
        sqlx::Error::Database(db) => !db
            .code()
            .is_some_and(|code| code == "57P02" || code.starts_with("08")),
        _ => false,
    };
    if outcome_known || nested {
        // A failed RELEASE SAVEPOINT cannot commit anything: the outer COMMIT never ran.
        Error::from(error)
    } else {
        Kind::CommitOutcomeUnknown { source: error }.into()
    }
}

impl fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::category::tests::db_error;

    #[test]
    fn begin_sql_for_every_option() {
        assert_eq!(TransactionOptions::new().begin_sql(), "BEGIN");
        let cases = [
            (
                IsolationLevel::ReadCommitted,
                "BEGIN ISOLATION LEVEL READ COMMITTED",
            ),
            (
                IsolationLevel::RepeatableRead,
                "BEGIN ISOLATION LEVEL REPEATABLE READ",
            ),
            (
                IsolationLevel::Serializable,
                "BEGIN ISOLATION LEVEL SERIALIZABLE",
            ),
        ];
        for (level, sql) in cases {
            assert_eq!(TransactionOptions::new().isolation(level).begin_sql(), sql);
            assert_eq!(level.to_string(), level.as_sql());
        }
        assert_eq!(
            TransactionOptions::new().read_only(true).begin_sql(),
            "BEGIN READ ONLY"
        );
        assert_eq!(
            TransactionOptions::new().deferrable(true).begin_sql(),
            "BEGIN DEFERRABLE"
        );
        assert_eq!(
            TransactionOptions::new()
                .idle_in_transaction_timeout(Duration::from_secs(2))
                .statement_timeout(Duration::from_micros(1500))
                .begin_sql(),
            "BEGIN; SET LOCAL statement_timeout = 2; SET LOCAL idle_in_transaction_session_timeout = 2000"
        );
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::RepeatableRead)
                .read_only(true)
                .idle_in_transaction_timeout(Duration::from_millis(10))
                .begin_sql(),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
             SET LOCAL idle_in_transaction_session_timeout = 10"
        );
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::Serializable)
                .read_only(true)
                .deferrable(true)
                .statement_timeout(Duration::from_secs(5))
                .begin_sql(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE; \
             SET LOCAL statement_timeout = 5000"
        );
    }

    #[test]
    fn timeouts_are_clamped_to_what_postgres_accepts() {
        assert_eq!(
            timeout_millis(Duration::ZERO),
            1,
            "0 would disable the timeout"
        );
        assert_eq!(timeout_millis(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_millis(Duration::from_millis(5)), 5);
        assert_eq!(
            timeout_millis(Duration::from_secs(u64::MAX)),
            i32::MAX as u128
        );
    }

    #[test]
    fn backoff_bounds() {
        let policy = RetryPolicy::new(10)
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(100));
        for attempt in 1..=12 {
            let ceiling = Duration::from_millis((10u64 << (attempt - 1).min(20)).min(100));
            let low = policy.delay_before_retry(attempt, 0.0);
            let high = policy.delay_before_retry(attempt, 1.0);
            assert_eq!(low, ceiling / 2, "attempt {attempt}");
            assert_eq!(high, ceiling, "attempt {attempt}");
            for _ in 0..50 {
                let delay = policy.delay_before_retry(attempt, rand::random::<f64>());
                assert!(
                    delay >= low && delay <= high,
                    "attempt {attempt}: {delay:?}"
                );
            }
        }
        // Out-of-range jitter is clamped, huge attempt numbers saturate.
        assert_eq!(policy.delay_before_retry(1, -3.0), Duration::from_millis(5));
        assert_eq!(policy.delay_before_retry(1, 7.0), Duration::from_millis(10));
        assert_eq!(
            policy.delay_before_retry(u32::MAX, 1.0),
            Duration::from_millis(100)
        );
        assert_eq!(policy.delay_before_retry(0, 1.0), Duration::from_millis(10));
    }

    #[test]
    fn retry_policy_defaults() {
        assert_eq!(RetryPolicy::default().max_attempts(), 3);
        assert_eq!(
            RetryPolicy::new(0).max_attempts(),
            1,
            "always at least one attempt"
        );
        let policy = RetryPolicy::new(4).base_delay(Duration::from_millis(10));
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(
            policy.delay_before_retry(2, 0.5),
            Duration::from_millis(15),
            "after the 2nd failed attempt"
        );
        let policy = RetryPolicy::new(2);
        assert_eq!(policy.delay_before_retry(1, 1.0), Duration::from_millis(20));
        assert_eq!(policy.delay_before_retry(30, 1.0), Duration::from_secs(1));
        let options = TransactionOptions::new().retry(policy);
        assert_eq!(options.retry, Some(policy));
        assert_eq!(TransactionOptions::new().retry, None);
    }

    #[test]
    fn commit_errors_are_sorted_by_what_the_server_knows() {
        let lost = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let unknown = commit_error(lost(), false);
        assert_eq!(unknown.category(), ErrorCategory::CommitOutcomeUnknown);
        assert_eq!(
            category_in_chain(&unknown),
            Some(ErrorCategory::CommitOutcomeUnknown),
            "only a conflict is rerun"
        );

        let known = commit_error(db_error("40001"), false);
        assert_eq!(known.category(), ErrorCategory::Conflict);

        for code in ["57P02", "08006", "08P01"] {
            assert_eq!(
                commit_error(db_error(code), false).category(),
                ErrorCategory::CommitOutcomeUnknown,
                "{code}"
            );
        }
        let terminated = commit_error(db_error("57P01"), false);
        assert_eq!(
            terminated.category(),
            ErrorCategory::ShuttingDown,
            "the server aborted before committing"
        );

        let savepoint = commit_error(lost(), true);
        assert_eq!(savepoint.category(), ErrorCategory::Unreachable);
    }

    #[derive(Debug, thiserror::Error)]
    enum AppError {
        #[error("app: {0}")]
        Db(#[from] Error),
    }

    /// What `transaction` decides a retry on.
    fn category_of<Via>(error: &impl TransactionError<Via>) -> Option<ErrorCategory> {
        category_in_chain(error.as_std_error())
    }

    #[test]
    fn conflicts_are_found_in_every_kind_of_error() {
        let error = Error::from(db_error("40001"));
        assert_eq!(category_of(&error), Some(ErrorCategory::Conflict));

        let error = AppError::from(Error::from(db_error("40P01")));
        assert_eq!(category_of(&error), Some(ErrorCategory::Conflict));
        assert!(error.to_string().starts_with("app: "), "{error}");

        let wrapped = anyhow::Error::from(db_error("40001")).context("moving money");
        assert_eq!(category_of(&wrapped), Some(ErrorCategory::Conflict));
        assert_eq!(wrapped.to_string(), "moving money");

        assert_eq!(category_of(&anyhow::anyhow!("not a database error")), None);
        let wrapped = anyhow::Error::from(Error::from(db_error("23505")));
        assert_eq!(category_of(&wrapped), Some(ErrorCategory::Constraint));

        let boxed: Box<dyn StdError + Send + Sync> = Box::new(Error::from(db_error("40P01")));
        assert_eq!(category_of(&boxed), Some(ErrorCategory::Conflict));
    }

    /// Compile-time check: a body may return `anyhow::Result`, or a boxed error.
    #[allow(dead_code)]
    async fn anyhow_body(pool: sqlx::PgPool) -> anyhow::Result<i64> {
        transaction(&pool, TransactionOptions::new(), async |tx| {
            let n: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *tx).await?;
            anyhow::ensure!(n == 1, "one is one");
            Ok(n)
        })
        .await
    }

    #[allow(dead_code)]
    async fn boxed_error_body(pool: sqlx::PgPool) -> Result<i64, Box<dyn StdError + Send + Sync>> {
        transaction(&pool, TransactionOptions::new(), async |tx| {
            let n: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *tx).await?;
            Ok(n)
        })
        .await
    }

    /// Compile-time check: the transaction future is `Send` (it can be spawned) for the
    /// common targets, and closures may borrow from their environment.
    #[allow(dead_code)]
    fn futures_are_send(pool: &sqlx::PgPool, conn: &mut PgConnection) {
        fn assert_send<T: Send>(_: T) {}
        let label = String::from("x");
        let owned = label.clone();
        assert_send(transaction(
            pool,
            TransactionOptions::new(),
            async move |tx| {
                sqlx::query("SELECT $1")
                    .bind(&owned)
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, Error>(())
            },
        ));
        assert_send(transaction(conn, TransactionOptions::new(), async |tx| {
            let nested = tx.is_nested();
            Ok::<_, Error>(nested)
        }));
    }

    #[allow(dead_code)]
    async fn handler_like(pool: sqlx::PgPool, label: String) -> Result<(), Error> {
        transaction(&pool, TransactionOptions::new(), async move |tx| {
            sqlx::query("SELECT $1")
                .bind(&label)
                .execute(&mut *tx)
                .await?;
            Ok::<_, Error>(())
        })
        .await
    }

    #[allow(dead_code)]
    async fn handler_like_borrowing(pool: sqlx::PgPool, label: String) -> Result<(), Error> {
        let label = &label;
        transaction_boxed(&pool, TransactionOptions::new(), |tx, _| {
            Box::pin(async move {
                sqlx::query("SELECT $1")
                    .bind(label)
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
    }

    #[allow(dead_code)]
    fn spawn_handler(pool: sqlx::PgPool) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(handler_like(pool.clone(), String::new()));
        assert_send(handler_like_borrowing(pool, String::new()));
    }
}
