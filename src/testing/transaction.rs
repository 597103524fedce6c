//! Transaction isolation: the test runs inside a transaction that is rolled back.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, Postgres, Transaction};

use super::clones::{self, TxLease};
use super::connections::{PoolPolicy, Target};
use super::error::HarnessError;
use super::fixtures;
use super::spec::TestSpec;

/// A connection inside a transaction on a migrated clone that no other running test holds,
/// for a test to use and to be rolled back when dropped (or by [`TestTransaction::rollback`]).
///
/// `#[db_test]` hands tests a `&mut PgConnection` built this way; build one yourself with
/// [`TestTransaction::begin`], e.g. in an rstest fixture. It derefs to [`PgConnection`], and
/// a `begin()` on it makes a savepoint.
#[derive(Debug)]
pub struct TestTransaction {
    // Dropped first: the rollback is queued before the lease is given up.
    tx: Transaction<'static, Postgres>,
    _lease: TxLease,
}

impl TestTransaction {
    /// Begins a transaction for `spec` (its migrations and fixtures) on a connection of its
    /// own, usable on any runtime.
    pub async fn begin(spec: &TestSpec) -> Result<Self, HarnessError> {
        let target = Target::resolve(spec.migrations).await?;
        let (conn, lease) = clones::take_tx(&target, PoolPolicy::Own)
            .await?
            .into_parts();
        let mut tx = Transaction::begin(conn, None)
            .await
            .map_err(HarnessError::sql("BEGIN"))?;
        fixtures::apply(&mut tx, spec.fixtures).await?;
        Ok(Self { tx, _lease: lease })
    }

    /// Rolls the transaction back now.
    pub async fn rollback(self) -> Result<(), HarnessError> {
        self.tx
            .rollback()
            .await
            .map_err(HarnessError::sql("ROLLBACK of the test transaction"))
    }
}

impl Deref for TestTransaction {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TestTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
