//! The pool of clones: every test runs in a database that no other running test touches.
//!
//! Each template has numbered clones per mode (see [`super::names`]). A test leases a free
//! one ([`super::leases`]), uses it, and gives it back for the next test, so the number of
//! clones grows to the peak number of tests running at once, across all processes, and no
//! further. On the shared runtime a process keeps the clones it leased, with their warm
//! connections, between its tests.
//!
//! - Transaction mode: the test runs inside a transaction that is rolled back, so the clone
//!   is clean again at once (sequences aside: they are not transactional).
//! - Database mode: the test commits what it likes; afterwards the clone is reset
//!   ([`super::profile`]), or recreated from the template when a reset cannot undo what the
//!   test did. On an external server, which other machines may share, database mode creates
//!   and drops a database per test instead (see [`super::database`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::connections::{HarnessConnection, PoolPolicy, Target, acquire, connect, pool_options};
use super::context::{FreeList, harness};
use super::error::HarnessError;
use super::janitor;
use super::leases::{self, CloneState, Existing, Lease};
use super::names::CloneKind;
use super::profile::{Profile, Reset};
use super::sql::{is_insufficient_resources, is_missing_database};
use super::template::clone_template;
use crate::ephemeral::BackendKind;

/// More clones than any machine runs tests at once; past it something is wrong.
const MAX_CLONES: u32 = 1024;

/// Connections a database-mode test's pool may open (lazily).
pub(crate) const TEST_POOL_MAX: u32 = 10;

/// How long a test's leftover connections may take to come back to its pool.
const RETURN_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the harness looks whether a test's connection came back to its pool.
const RETURN_POLL: Duration = Duration::from_micros(100);

/// How long a test waits for room on the server (connections, disk) before it fails.
const CAPACITY_WAIT: Duration = Duration::from_secs(120);

/// The advisory lock, taken in a transaction-mode clone by the connection that leases it: on
/// an external server, other machines (with lease files of their own) see it.
const TX_LEASE_LOCK: i64 = 0x7065_7273_6c65_6173; // "perslease"

/// A transaction-mode clone and the connection bound to it (the only one of a pool of one,
/// so that a [`TestTransaction`](super::TestTransaction) can own it).
#[derive(Debug)]
pub(crate) struct TxClone {
    pub(crate) conn: PoolConnection<Postgres>,
    lease: Lease,
}

/// The lease of a transaction-mode clone, apart from its connection.
#[derive(Debug)]
pub(crate) struct TxLease {
    _lease: Lease,
}

impl TxClone {
    /// Splits the clone into its connection and its lease, for an owner that keeps both.
    pub(crate) fn into_parts(self) -> (PoolConnection<Postgres>, TxLease) {
        (self.conn, TxLease { _lease: self.lease })
    }
}

/// A database-mode clone, leased; clean when handed to a test.
#[derive(Debug)]
pub(crate) struct DbClone {
    pub(crate) name: String,
    lease: Lease,
    watermark: u64,
    /// Kept between the tests of a process on the shared runtime.
    warm: Option<PgPool>,
}

fn pop<T>(list: &FreeList<T>, key: &str) -> Option<T> {
    list.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(key)?
        .pop()
}

fn push<T>(list: &FreeList<T>, key: &str, item: T) {
    list.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_default()
        .push(item);
}

/// What one try at a leased clone gave.
enum Attempt<T> {
    /// The clone, ready for the test.
    Ready(T),
    /// Leased by a process of another machine sharing this (external) server: try the next.
    HeldElsewhere,
    /// The server has no room now: wait (still holding the lease), then start over.
    NoRoom(HarnessError, Lease),
}

/// Leases the first clone of `kind` whose lease is free and that `prepare` makes ready for
/// a test, waiting (up to [`CAPACITY_WAIT`]) while all are leased or the server is full.
async fn lease_first<T, F, Fut>(
    target: &Target,
    kind: CloneKind,
    mut prepare: F,
) -> Result<T, HarnessError>
where
    F: FnMut(String, Lease) -> Fut,
    Fut: Future<Output = Result<Attempt<T>, HarnessError>>,
{
    let dir = lease_dir(target)?;
    let started = Instant::now();
    'retry: loop {
        for n in 0..MAX_CLONES {
            let name = kind.clone_name(&target.names.key, n);
            let Some(lease) = Lease::try_take(dir, &name).map_err(lease_error(dir))? else {
                continue;
            };
            match prepare(name, lease).await? {
                Attempt::Ready(clone) => return Ok(clone),
                Attempt::HeldElsewhere => {}
                Attempt::NoRoom(err, _lease) => {
                    wait_for_room(&err, started)?;
                    continue 'retry;
                }
            }
        }
        wait_for_room(&HarnessError::NoClone { limit: MAX_CLONES }, started)?;
    }
}

/// Leases a transaction-mode clone with a connection to it, creating the clone if needed.
pub(crate) async fn take_tx(target: &Target, pools: PoolPolicy) -> Result<TxClone, HarnessError> {
    if pools == PoolPolicy::ProcessWide
        && let Some(clone) = pop(&harness().free_tx, &target.names.key)
    {
        return Ok(clone);
    }
    lease_first(target, CloneKind::Transaction, |name, lease| async move {
        let mut conn = match pooled_clone(target, &name).await {
            Ok(conn) => conn,
            Err(err) if missing(&err) => {
                create_clone(target, pools, &name, false).await?;
                pooled_clone(target, &name).await?
            }
            Err(err) if is_capacity(&err) => return Ok(Attempt::NoRoom(err, lease)),
            Err(err) => return Err(err),
        };
        // On a server of the harness's own, every process that uses it shares the lease
        // files, which are the whole truth: the round trip is for external servers only.
        let ours = target.server.backend() != BackendKind::External
            || sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(TX_LEASE_LOCK)
                .fetch_one(&mut *conn)
                .await
                .map_err(HarnessError::sql("leasing a transaction clone"))?;
        if ours {
            return Ok(Attempt::Ready(TxClone { conn, lease }));
        }
        let _ = conn.detach().close().await;
        Ok(Attempt::HeldElsewhere)
    })
    .await
}

/// Gives a transaction-mode clone back after a rollback: kept for the next test of this
/// process on the shared runtime, released otherwise.
pub(crate) async fn give_back_tx(target: &Target, pools: PoolPolicy, clone: TxClone) {
    if pools == PoolPolicy::ProcessWide {
        push(&harness().free_tx, &target.names.key, clone);
    } else {
        let _ = clone.conn.detach().close().await;
    }
}

/// Leases a clean database-mode clone.
pub(crate) async fn take_db(target: &Target, pools: PoolPolicy) -> Result<DbClone, HarnessError> {
    if pools == PoolPolicy::ProcessWide
        && let Some(mut clone) = pop(&harness().free_db, &target.names.key)
    {
        clone.lease.record(CloneState::InUse {
            watermark: clone.watermark,
        });
        return Ok(clone);
    }
    let dir = lease_dir(target)?;
    let kind = CloneKind::Database;
    // A clean clone first: under nextest, the janitor has usually made the clones that
    // earlier tests' processes left used clean again by now.
    for n in 0..MAX_CLONES {
        let name = kind.clone_name(&target.names.key, n);
        match Lease::try_take_existing(dir, &name).map_err(lease_error(dir))? {
            Existing::Absent => break,
            Existing::Held => {}
            Existing::Taken(mut lease) => {
                if let CloneState::Clean { watermark } = lease.state() {
                    return hand_out(target, name, lease, watermark).await;
                }
            }
        }
    }
    lease_first(target, kind, |name, mut lease| async move {
        let prepared = match lease.state() {
            CloneState::Clean { watermark } => Ok(watermark),
            CloneState::InUse { watermark } => {
                // Its test died before the reset: do it now.
                match connect_clone(target, &name).await {
                    Ok(mut conn) => {
                        let reset = clean(target, pools, &name, &mut conn, watermark).await;
                        let _ = conn.close().await;
                        reset.map(|(watermark, _)| watermark)
                    }
                    Err(err) if missing(&err) => create_clone(target, pools, &name, true).await,
                    Err(err) => Err(err),
                }
            }
            CloneState::Unknown => create_clone(target, pools, &name, true).await,
        };
        match prepared {
            Ok(watermark) => hand_out(target, name, lease, watermark)
                .await
                .map(Attempt::Ready),
            Err(err) if is_capacity(&err) => Ok(Attempt::NoRoom(err, lease)),
            Err(err) => {
                lease.record(CloneState::Unknown);
                Err(err)
            }
        }
    })
    .await
}

/// Hands the clean clone `name` to a test.
async fn hand_out(
    target: &Target,
    name: String,
    mut lease: Lease,
    watermark: u64,
) -> Result<DbClone, HarnessError> {
    if known_profile(target).is_none() {
        // The clone is clean: what the template looks like can be read from it.
        let mut conn = connect_clone(target, &name).await?;
        let read = read_profile(target, &mut conn).await;
        let _ = conn.close().await;
        read?;
    }
    lease.record(CloneState::InUse { watermark });
    Ok(DbClone {
        name,
        lease,
        watermark,
        warm: None,
    })
}

impl DbClone {
    /// The pool the test gets: the warm one kept from this process's earlier tests on the
    /// shared runtime, else a new one (connections open lazily).
    pub(crate) fn pool(&mut self, target: &Target, pools: PoolPolicy) -> PgPool {
        if let Some(pool) = self.warm.as_ref().filter(|p| !p.is_closed()) {
            return pool.clone();
        }
        let pool = test_pool(target.server.options_for(&self.name));
        if pools == PoolPolicy::ProcessWide {
            self.warm = Some(pool.clone());
        }
        pool
    }

    /// After the test: makes the clone clean again and gives it back (kept by this process
    /// on the shared runtime, with its warm pool; released otherwise). `pool` is the pool the
    /// test got.
    pub(crate) async fn give_back(
        mut self,
        target: &Target,
        pools: PoolPolicy,
        pool: &PgPool,
    ) -> Result<(), HarnessError> {
        if leases::directory(target.server).is_ok_and(janitor::takes_used_clones) {
            // This process ends with its test (nextest): the clone is left in use, and the
            // janitor resets it once the test's connections are gone.
            let _ = tokio::time::timeout(RETURN_TIMEOUT, pool.close()).await;
            return Ok(());
        }
        let settled = pools == PoolPolicy::ProcessWide && settle(pool).await;
        let watermark = if settled {
            let mut conn = pool.acquire().await.map_err(|source| {
                HarnessError::connect(target.server.display_url(&self.name), source)
            })?;
            let (watermark, recreated) =
                clean(target, pools, &self.name, &mut conn, self.watermark).await?;
            drop(conn);
            if recreated {
                // Its sessions were ended with the old database.
                pool.close().await;
                self.warm = None;
            } else if !settle(pool).await {
                self.warm = None;
            }
            watermark
        } else {
            self.warm = None;
            let closed = tokio::time::timeout(RETURN_TIMEOUT, pool.close())
                .await
                .is_ok();
            if closed {
                let mut own = connect_clone(target, &self.name).await?;
                let cleaned = clean(target, pools, &self.name, &mut own, self.watermark).await;
                let _ = own.close().await;
                cleaned?.0
            } else {
                // A task of the test still holds a connection and may still write.
                create_clone(target, pools, &self.name, true).await?
            }
        };
        self.release(target, pools, watermark)
    }

    fn release(
        mut self,
        target: &Target,
        pools: PoolPolicy,
        watermark: u64,
    ) -> Result<(), HarnessError> {
        self.watermark = watermark;
        self.lease.record(CloneState::Clean { watermark });
        if self.warm.as_ref().is_some_and(PgPool::is_closed) {
            self.warm = None;
        }
        if pools == PoolPolicy::ProcessWide {
            push(&harness().free_db, &target.names.key, self);
        }
        Ok(())
    }

    /// Ends the lease without making the clone clean: the next holder resets it (a test
    /// handle dropped without being closed, or a kept database renamed away).
    pub(crate) fn abandon(mut self, state: Option<CloneState>) {
        if let Some(state) = state {
            self.lease.record(state);
        }
    }
}

/// Waits until every connection the test took is back in its pool (tasks it spawned may
/// still be finishing), and closes all but one, so that a clone kept by the process holds
/// one warm connection. `false` when some never came back.
///
/// Also run after the reset: sqlx returns a dropped connection to its pool from a task,
/// after a ping. A clone handed to the next test before that would make its pool open a
/// second connection, and the warm one (with its prepared reset) would be closed here.
async fn settle(pool: &PgPool) -> bool {
    if pool.is_closed() {
        return false;
    }
    let started = Instant::now();
    while pool.num_idle() < pool.size() as usize {
        let waited = started.elapsed();
        if waited >= RETURN_TIMEOUT {
            let _ = tokio::time::timeout(RETURN_TIMEOUT, pool.close()).await;
            return false;
        }
        // A connection the test dropped comes back after a round trip (sqlx pings it on
        // release, from a task on the runtime's workers). A timer tick (1 ms or more) would
        // cost more than that, and spinning would take a core from the workers and the
        // server: this thread (the test's own, inside `block_on`; settle runs only on the
        // shared runtime) naps for a tenth of a millisecond instead.
        std::thread::sleep(RETURN_POLL);
    }
    while pool.size() > 1 {
        match pool.try_acquire() {
            Some(conn) => {
                let _ = conn.detach().close().await;
            }
            None => break,
        }
    }
    true
}

/// What a test may have set on its session, undone for the next test. (DISCARD ALL would
/// also drop sqlx's prepared statements, which its cache still lists.)
const SESSION_RESET: &str = "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; \
                             UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP";

/// Resets `conn`'s session and database; recreates the database if a reset cannot make it
/// clean. Returns the new watermark, and whether the database was recreated.
async fn clean(
    target: &Target,
    pools: PoolPolicy,
    name: &str,
    conn: &mut PgConnection,
    watermark: u64,
) -> Result<(u64, bool), HarnessError> {
    let reset = match known_profile(target) {
        // Without the template's profile, nothing tells what the test changed.
        None => Ok(Reset::Recreate),
        // The session outlives the test on a kept pool: the reset also undoes what the test
        // set on it.
        Some(profile) => profile.reset(conn, watermark, Some(SESSION_RESET)).await,
    };
    match reset {
        Ok(Reset::Untouched) => Ok((watermark, false)),
        Ok(Reset::Cleaned { watermark }) => Ok((watermark, false)),
        Ok(Reset::Recreate) | Err(_) => {
            if let Err(err) = &reset {
                tracing::info!(database = name, %err, "persistence: recreating a clone the reset could not clean");
            }
            Ok((create_clone(target, pools, name, true).await?, true))
        }
    }
}

/// Creates the clone `name` from the template (building it first if needed), dropping an
/// old one when `replace`. Returns the watermark of the fresh clone.
async fn create_clone(
    target: &Target,
    pools: PoolPolicy,
    name: &str,
    replace: bool,
) -> Result<u64, HarnessError> {
    let mut admin = HarnessConnection::admin(target, pools).await?;
    target.ensure_template(&mut admin).await?;
    let template = &target.names.template;
    let made = match clone_template(&mut admin, target.server, template, name, replace).await {
        Err(HarnessError::Sql { source, .. }) if is_missing_database(&source) => {
            // The template was dropped behind this process's back (a prune elsewhere).
            super::template::forget(&target.names);
            target.ensure_template(&mut admin).await?;
            clone_template(&mut admin, target.server, template, name, false).await
        }
        made => made,
    };
    admin.release().await;
    made
}

/// A connection to the clone `name` from a pool of one made for it.
async fn pooled_clone(
    target: &Target,
    name: &str,
) -> Result<PoolConnection<Postgres>, HarnessError> {
    let options = target.server.options_for(name);
    let pool = pool_options(1).connect_lazy_with(options.clone());
    acquire(&pool, target.server, &options, name).await
}

async fn connect_clone(target: &Target, name: &str) -> Result<PgConnection, HarnessError> {
    connect(target.server, &target.server.options_for(name), name).await
}

fn test_pool(options: PgConnectOptions) -> PgPool {
    pool_options(TEST_POOL_MAX).connect_lazy_with(options)
}

fn missing(err: &HarnessError) -> bool {
    matches!(err, HarnessError::Connect { source, .. } if is_missing_database(source))
}

/// Errors that say the server has no room now (connections, disk, memory), which a test
/// waits out instead of failing.
fn is_capacity(err: &HarnessError) -> bool {
    let source = match err {
        HarnessError::Connect { source, .. } | HarnessError::Sql { source, .. } => source,
        HarnessError::NoClone { .. } => return true,
        _ => return false,
    };
    is_insufficient_resources(source)
}

/// Sleeps a little before the next try, saying once per process why tests wait; gives up
/// with `err` after [`CAPACITY_WAIT`].
fn wait_for_room(err: &HarnessError, started: Instant) -> Result<(), HarnessError> {
    if started.elapsed() > CAPACITY_WAIT {
        return Err(HarnessError::Capacity {
            waited: CAPACITY_WAIT,
            detail: err.to_string(),
        });
    }
    if !harness().said_waiting.swap(true, Ordering::Relaxed) {
        eprintln!(
            "persistence: a test waits for a clone: {err}; it goes on when another test gives \
             one back (raise the server's max_connections or its disk space to run more at once)"
        );
    }
    std::thread::sleep(Duration::from_millis(20));
    Ok(())
}

fn lease_dir(target: &Target) -> Result<&'static std::path::Path, HarnessError> {
    leases::directory(target.server).map_err(|source| HarnessError::State {
        action: "making the directory of clone leases",
        source,
    })
}

fn lease_error(dir: &std::path::Path) -> impl FnOnce(std::io::Error) -> HarnessError + '_ {
    move |source| HarnessError::State {
        action: if dir.exists() {
            "taking a clone lease"
        } else {
            "taking a clone lease (its directory vanished)"
        },
        source,
    }
}

fn profile_path(target: &Target) -> Option<std::path::PathBuf> {
    let dir = leases::directory(target.server).ok()?;
    Some(profile_file(dir, &target.names.key))
}

/// Where the profile of the template `key` is kept for the other processes.
pub(crate) fn profile_file(lease_dir: &std::path::Path, key: &str) -> std::path::PathBuf {
    lease_dir.join(format!("{key}.profile.json"))
}

/// The profile of the template `key` from its file, if a process wrote it.
pub(crate) fn load_profile(lease_dir: &std::path::Path, key: &str) -> Option<Profile> {
    let bytes = std::fs::read(profile_file(lease_dir, key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The template's profile, if this process has it or a first process wrote it to its file
/// (so that a `cargo nextest` process needs no query for it).
fn known_profile(target: &Target) -> Option<Arc<Profile>> {
    let key = &target.names.key;
    if let Some(profile) = harness()
        .profiles
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
    {
        return Some(profile.clone());
    }
    let dir = leases::directory(target.server).ok()?;
    let profile = Arc::new(load_profile(dir, key)?);
    harness()
        .profiles
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone(), profile.clone());
    Some(profile)
}

/// Reads the template's profile through `conn`, a connection to a clean clone, and keeps it
/// in this process and in a file for the others.
async fn read_profile(target: &Target, conn: &mut PgConnection) -> Result<(), HarnessError> {
    let profile = Arc::new(Profile::read(conn).await?);
    if let Some(path) = profile_path(target) {
        // Written whole under another name, then renamed: a reader never sees half of it.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = serde_json::to_vec(&*profile)
            .ok()
            .and_then(|bytes| std::fs::write(&tmp, bytes).ok())
            .and_then(|()| std::fs::rename(&tmp, &path).ok());
        if written.is_none() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    harness()
        .profiles
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(target.names.key.clone(), profile);
    Ok(())
}
