//! Transaction-mode clones: a test runs in a transaction that is rolled back, so the clone is
//! clean again as soon as the test ends, and the next test can have it at once.

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};

use super::leases::Lease;
use super::{FreeList, Leasing, create_clone, is_capacity, missing};
use crate::ephemeral::BackendKind;
use crate::testing::error::HarnessError;
use crate::testing::home::{Home, home};
use crate::testing::schema::names::TX_CLONE_PREFIX;
use crate::testing::session::{Session, application_name, pool_options};
use crate::testing::timings::mark;

/// The advisory lock, taken in a transaction-mode clone by the connection that leases it: on
/// an external server, other machines (with lease files of their own) see it.
const TX_LEASE_LOCK: i64 = 0x7065_7273_6c65_6173; // "perslease"

/// Transaction-mode clones this process keeps, each with its connection, between its tests.
/// Their leases are held as long as they are listed.
static FREE: FreeList<TxClone> = FreeList::new();

/// A transaction-mode clone and the connection bound to it (the only one of a pool of one,
/// so that a transaction can own it).
#[derive(Debug)]
pub(crate) struct TxClone {
    pub(crate) conn: PoolConnection<Postgres>,
    /// The clone's database.
    pub(crate) name: String,
    /// The `application_name` its session has now: the test it was opened for, or an
    /// earlier one of this process when kept.
    pub(crate) named_for: String,
    // Held, not read: the lease ends with the clone.
    _lease: Lease,
}

/// Leases a transaction-mode clone with a connection to it for the test `test`, creating
/// the clone if needed.
pub(crate) async fn take(session: &Session, test: &str) -> Result<TxClone, HarnessError> {
    if let Some(clone) = FREE.pop(&session.names.key) {
        return Ok(clone);
    }
    let mut leasing = Leasing::new(session, TX_CLONE_PREFIX);
    loop {
        let (name, lease) = leasing.next()?;
        mark("clone lease");
        let mut conn = match pooled(session, &name, test).await {
            Ok(conn) => conn,
            Err(err) if missing(&err) => {
                create_clone(session, &name, false).await?;
                pooled(session, &name, test).await?
            }
            Err(err) if is_capacity(&err) => {
                // Waited for while the lease is still held, then tried from the first clone.
                leasing.no_room(&err)?;
                drop(lease);
                continue;
            }
            Err(err) => return Err(err),
        };
        // On a server of the harness's own, every process that uses it shares the lease
        // files, which are the whole truth: the round trip is for external servers only.
        let ours = session.server.backend() != BackendKind::External
            || sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(TX_LEASE_LOCK)
                .fetch_one(&mut *conn)
                .await
                .map_err(HarnessError::sql("leasing a transaction clone"))?;
        if ours {
            return Ok(TxClone {
                conn,
                name,
                named_for: application_name(test),
                _lease: lease,
            });
        }
        // Leased by a process of another machine sharing this (external) server.
        let _ = conn.detach().close().await;
    }
}

/// Gives a transaction-mode clone back after a rollback: kept for the next test of this
/// process when the harness's connections outlive a test, released otherwise.
pub(crate) async fn give_back(session: &Session, clone: TxClone) {
    match home() {
        Home::Driver => FREE.push(&session.names.key, clone),
        Home::TestRuntime => {
            let _ = clone.conn.detach().close().await;
        }
    }
}

/// Ends the clone's connection instead of giving the clone back: after a panic or a failed
/// rollback its session's state is unknown. Ending the session rolls back whatever is left,
/// and the lease is released with it.
pub(crate) fn discard(clone: TxClone) {
    drop(clone.conn.detach());
}

/// A connection of the test `test` to the clone `name`, from a pool of one made for it.
async fn pooled(
    session: &Session,
    name: &str,
    test: &str,
) -> Result<PoolConnection<Postgres>, HarnessError> {
    let pool = pool_options(1).connect_lazy_with(session.test_options(name, test));
    session.acquire(&pool, name).await
}
