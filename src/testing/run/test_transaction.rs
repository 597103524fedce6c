//! Transaction mode: the test runs inside a transaction that is rolled back.

use std::ops::{Deref, DerefMut};

use sqlx::{AssertSqlSafe, PgConnection, Postgres, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;

use super::runtime::on_harness;
use super::spec::TestSpec;
use crate::testing::error::HarnessError;
use crate::testing::home::{Home, home};
use crate::testing::pool::budget::{self, Share};
use crate::testing::pool::transaction::{self as clones, TxClone};
use crate::testing::session::{Session, application_name, set_application_name};
use crate::testing::sql::is_in_failed_transaction;
use crate::testing::timings::mark;

/// A connection inside a transaction on a migrated clone that no other running test holds,
/// for a test to use, rolled back when dropped (or by [`TestTransaction::rollback`]).
///
/// `#[db_test]` hands tests a `&mut PgConnection` built this way; build one yourself with
/// [`TestTransaction::begin`], e.g. in an rstest fixture. It derefs to [`PgConnection`], and
/// a `begin()` on it makes a savepoint.
#[derive(Debug)]
pub struct TestTransaction {
    session: &'static Session,
    /// `None` once given back.
    clone: Option<TxClone>,
    /// The test's connection in the budget, given back with the clone.
    share: Option<Share>,
}

impl TestTransaction {
    /// Begins a transaction for `spec` (its migrations and fixtures).
    pub async fn begin(spec: &TestSpec) -> Result<Self, HarnessError> {
        let spec = *spec;
        on_harness(async move { Self::open(&spec).await }).await
    }

    /// Leases a clone (its fixtures' rows are there: they are in its template) and begins
    /// the transaction.
    pub(crate) async fn open(spec: &TestSpec) -> Result<Self, HarnessError> {
        let session = Session::of(spec.schema()).await?;
        // Before the clone: a test that waits for room holds nothing another one needs.
        let share = budget::take(session, spec.name, 1).await?;
        mark("budget share");
        let mut clone = clones::take(session, spec.name).await?;
        mark("connect (relayed session)");
        // A session kept from an earlier test takes this one's name in the same round trip
        // as its BEGIN.
        let name = application_name(spec.name);
        let begin = (clone.named_for != name).then(|| {
            AssertSqlSafe(format!("{}; BEGIN", set_application_name(spec.name))).into_sql_str()
        });
        clone.named_for = name;
        let mut test = Self {
            session,
            clone: Some(clone),
            share: Some(share),
        };
        // Through sqlx's transaction manager, which keeps the depth on the connection: the
        // code under test's own `begin()` then makes a savepoint.
        Manager::begin(&mut test, begin)
            .await
            .map_err(HarnessError::sql("BEGIN"))?;
        mark("BEGIN");
        Ok(test)
    }

    /// The server's session of the harness, for the lock-wait watchdog.
    pub(crate) fn session(&self) -> &'static Session {
        self.session
    }

    /// The clone's database.
    pub(crate) fn database(&self) -> &str {
        self.clone.as_ref().map_or("", |clone| &clone.name)
    }

    /// Ends the test's session instead of rolling back: a statement of it may still wait
    /// on a lock (the lock-wait watchdog stopped the test), so a ROLLBACK could wait too.
    pub(crate) fn discard(&mut self) {
        if let Some(clone) = self.clone.take() {
            clones::discard(clone);
        }
        self.share = None;
    }

    /// Checks deferred constraints, as COMMIT would: a violation the test made must fail
    /// it. A transaction that an error already aborted (a test that expects a failing
    /// statement) has nothing left to check. Returns the violation.
    pub(crate) async fn check_deferred(&mut self) -> Result<(), sqlx::Error> {
        // A simple query: one round trip, where a prepared statement takes two on the fresh
        // connection of a nextest process.
        match sqlx::raw_sql("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(&mut **self)
            .await
        {
            Err(err) if !is_in_failed_transaction(&err) => Err(err),
            _ => Ok(()),
        }
    }

    /// Rolls the transaction back now.
    pub async fn rollback(mut self) -> Result<(), HarnessError> {
        let Some(mut clone) = self.clone.take() else {
            return Ok(());
        };
        let session = self.session;
        let share = self.share.take();
        on_harness(async move {
            let rolled_back = roll_back_all(&mut clone.conn).await;
            drop(share);
            match rolled_back {
                Ok(()) => {
                    clones::give_back(session, clone).await;
                    Ok(())
                }
                Err(err) => {
                    clones::discard(clone);
                    Err(HarnessError::sql("ROLLBACK of the test transaction")(err))
                }
            }
        })
        .await
    }

    /// After a test's body: rolls back and gives the clone back. A clone whose rollback
    /// fails is discarded.
    pub(crate) async fn finish(&mut self) {
        let Some(mut clone) = self.clone.take() else {
            return;
        };
        if home() == Home::TestRuntime {
            // The connection is closed, not kept (the process runs one test): ending its
            // session rolls the transaction back (the server does, or the relay, which
            // cleans a session its client left before it hands the session out again), so
            // a ROLLBACK would only add a round trip.
            clones::give_back(self.session, clone).await;
            self.share = None;
            return;
        }
        if roll_back_all(&mut clone.conn).await.is_ok() {
            clones::give_back(self.session, clone).await;
        } else {
            clones::discard(clone);
        }
        self.share = None;
    }
}

type Manager = <Postgres as sqlx::Database>::TransactionManager;

/// Rolls back the test's transaction with whatever savepoints the code under test left open
/// (a nested transaction it leaked); the connection is then outside any transaction.
async fn roll_back_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    while Manager::get_transaction_depth(conn) > 0 {
        Manager::rollback(conn).await?;
    }
    Ok(())
}

impl Drop for TestTransaction {
    fn drop(&mut self) {
        // Dropped without `rollback()` (a fixture's handle going out of scope): ending the
        // session rolls back whatever is left and frees the clone with its lease.
        if let Some(clone) = self.clone.take() {
            clones::discard(clone);
        }
    }
}

impl Deref for TestTransaction {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match &self.clone {
            Some(clone) => &clone.conn,
            None => unreachable!("a test transaction is given back only when it is consumed"),
        }
    }
}

impl DerefMut for TestTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.clone {
            Some(clone) => &mut clone.conn,
            None => unreachable!("a test transaction is given back only when it is consumed"),
        }
    }
}
