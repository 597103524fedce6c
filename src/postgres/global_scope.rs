//! Running a future with another pool as the process-wide one.
//!
//! [`global`](super::global) normally returns the pool built from `DATABASE_URL`. Code run
//! inside [`GlobalScope::run`] gets the scope's answer instead: a pool of the caller's
//! choosing ([`GlobalScope::pool`]), or an error that says why no pool may be used here
//! ([`GlobalScope::deny`]). A test harness uses this to hand the code under test the test's
//! own database; nothing changes for code that never enters a scope.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::error::{Error, Kind};

tokio::task_local! {
    static SCOPE: GlobalScope;
}

/// Set once per process by [`forbid_unscoped_global`].
static UNSCOPED_FORBIDDEN: OnceLock<Arc<str>> = OnceLock::new();

/// What [`global`](super::global) answers inside a scope: a pool, or a refusal. Cheap to
/// clone.
///
/// # Which code sees the scope
///
/// The scope is a Tokio task-local value: it covers everything the scoped future awaits,
/// on whichever worker thread it is polled, and nothing else.
///
/// - A task started with [`spawn_scoped`] (or a future wrapped with [`GlobalScope::run`] of
///   [`GlobalScope::current`]) carries the scope over.
/// - A task started with a bare `tokio::spawn`, a `spawn_blocking` closure and another
///   thread do **not** see it: they get the process-wide pool, or, in a process that called
///   [`forbid_unscoped_global`] (a test process), an [`Error`] that says how to carry the
///   scope over. For blocking code, [`GlobalScope::run_sync`] enters a
///   scope for the duration of a closure.
///
/// # Example
///
/// ```
/// use persistence::postgres::{GlobalScope, global};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = sqlx::postgres::PgPoolOptions::new()
///     .connect_lazy("postgres://localhost/orders_test")
///     .expect("a valid URL");
/// GlobalScope::pool(pool)
///     .run(async {
///         let pool = global().expect("the scope's pool");
///         assert_eq!(pool.connect_options().get_database(), Some("orders_test"));
///         // A task spawned with the scope carried over sees the same pool.
///         let database = persistence::postgres::spawn_scoped(async {
///             global().map(|p| p.connect_options().get_database().map(str::to_owned))
///         });
///         assert_eq!(database.await.unwrap().unwrap().as_deref(), Some("orders_test"));
///     })
///     .await;
///
/// let denied = GlobalScope::deny("this block must not use the database")
///     .run(async { global().map(|_| ()) })
///     .await;
/// assert_eq!(
///     denied.unwrap_err().to_string(),
///     "the process-wide pool is not available here: this block must not use the database"
/// );
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GlobalScope {
    answer: Answer,
}

#[derive(Debug, Clone)]
enum Answer {
    Pool(&'static PgPool),
    Denied(Arc<str>),
}

impl GlobalScope {
    /// A scope in which [`global`](super::global) returns `pool`.
    ///
    /// `global()` hands out `&'static PgPool`, so the scope keeps one handle of `pool` for
    /// the rest of the process (a few hundred bytes; closing the pool still closes its
    /// connections). Build one scope per pool and clone it, rather than one per call.
    pub fn pool(pool: PgPool) -> Self {
        Self {
            answer: Answer::Pool(Box::leak(Box::new(pool))),
        }
    }

    /// A scope in which [`global`](super::global) fails with an error (category
    /// [`Config`](super::ErrorCategory::Config)) carrying `reason`: say why, and what to do
    /// instead.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self {
            answer: Answer::Denied(Arc::from(reason.into())),
        }
    }

    /// The scope the current task runs in, if any.
    pub fn current() -> Option<Self> {
        SCOPE.try_with(Clone::clone).ok()
    }

    /// The pool of a [`GlobalScope::pool`] scope; `None` for a denying scope.
    pub fn pool_ref(&self) -> Option<&'static PgPool> {
        match self.answer {
            Answer::Pool(pool) => Some(pool),
            Answer::Denied(_) => None,
        }
    }

    /// Runs `future` inside this scope.
    pub async fn run<F: Future>(self, future: F) -> F::Output {
        SCOPE.scope(self, future).await
    }

    /// Runs the blocking closure `f` inside this scope (for `spawn_blocking` and threads).
    pub fn run_sync<R>(self, f: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self, f)
    }

    fn resolve(&self) -> Result<&'static PgPool, Error> {
        match &self.answer {
            Answer::Pool(pool) if pool.is_closed() => Err(Kind::PoolShutDown.into()),
            Answer::Pool(pool) => Ok(pool),
            Answer::Denied(reason) => Err(Kind::GlobalDenied {
                reason: reason.to_string(),
            }
            .into()),
        }
    }
}

/// `tokio::spawn` that carries the current [`GlobalScope`] (if any) over to the new task.
///
/// Must be called inside a Tokio runtime, as `tokio::spawn`.
pub fn spawn_scoped<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match GlobalScope::current() {
        Some(scope) => tokio::spawn(scope.run(future)),
        None => tokio::spawn(future),
    }
}

/// From now on, in this process, [`global`](super::global) called outside any
/// [`GlobalScope`] fails with an error (category [`Config`](super::ErrorCategory::Config))
/// instead of building the pool from `DATABASE_URL`. `reason` says why (the first call's reason is kept).
///
/// A test harness calls this so that code under test which escaped the test's scope (a bare
/// `tokio::spawn`) can never reach the developer's own database. Services never call it.
pub fn forbid_unscoped_global(reason: impl Into<String>) {
    let _ = UNSCOPED_FORBIDDEN.get_or_init(|| Arc::from(reason.into()));
}

/// The scope's answer for [`global`](super::global): `None` when the caller is outside any
/// scope in a process that allows that (then the process-wide pool is used).
pub(crate) fn scoped_global() -> Option<Result<&'static PgPool, Error>> {
    if let Ok(result) = SCOPE.try_with(GlobalScope::resolve) {
        return Some(result);
    }
    UNSCOPED_FORBIDDEN.get().map(|reason| {
        Err(Kind::GlobalOutsideScope {
            reason: reason.to_string(),
        }
        .into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy_pool(database: &str) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy(&format!("postgres://localhost/{database}"))
            .expect("valid URL")
    }

    fn database_of(result: Option<Result<&'static PgPool, Error>>) -> Option<String> {
        let pool = result?.ok()?;
        pool.connect_options().get_database().map(str::to_owned)
    }

    #[tokio::test]
    async fn scopes_nest_and_spawned_tasks_carry_them() {
        let outer = GlobalScope::pool(lazy_pool("outer"));
        let seen = outer
            .run(async {
                let here = database_of(scoped_global());
                let inner = GlobalScope::pool(lazy_pool("inner"))
                    .run(async { database_of(scoped_global()) })
                    .await;
                let carried = spawn_scoped(async { database_of(scoped_global()) })
                    .await
                    .expect("task");
                let bare = tokio::spawn(async { scoped_global().is_none() })
                    .await
                    .expect("task");
                let blocking = GlobalScope::current()
                    .expect("in a scope")
                    .run_sync(|| database_of(scoped_global()));
                (here, inner, carried, bare, blocking)
            })
            .await;
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            seen,
            (
                some("outer"),
                some("inner"),
                some("outer"),
                true,
                some("outer")
            )
        );
    }

    #[tokio::test]
    async fn denying_scopes_say_why_and_closed_pools_are_shut_down() {
        let error = GlobalScope::deny("use a PgPool instead")
            .run(async { scoped_global() })
            .await
            .expect("in a scope")
            .expect_err("denied");
        assert!(matches!(
            error.kind(),
            Kind::GlobalDenied { reason } if reason == "use a PgPool instead"
        ));
        assert_eq!(error.category(), crate::postgres::ErrorCategory::Config);

        let pool = lazy_pool("closed");
        pool.close().await;
        let error = GlobalScope::pool(pool)
            .run(async { scoped_global() })
            .await
            .expect("in a scope")
            .expect_err("closed");
        assert!(matches!(error.kind(), Kind::PoolShutDown));
    }
}
