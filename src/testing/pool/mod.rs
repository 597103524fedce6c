//! The pool of clones: every test runs in a database that no other running test touches.
//!
//! Each template has numbered clones per mode (see [`crate::testing::schema::names`]). A
//! test leases a free one ([`leases`]), uses it, and gives it back for the next test, so the
//! number of clones grows to the peak number of tests running at once, across all
//! processes, and no further. When the harness's connections outlive a test (`cargo test`:
//! see [`crate::testing::run::runtime`]) a process keeps the clones it leased, with their
//! warm connections, between its tests.
//!
//! - Transaction mode ([`transaction`]): the test runs inside a transaction that is rolled
//!   back, so the clone is clean again at once (sequences aside: they are not
//!   transactional).
//! - Database mode ([`database`]): the test commits what it likes; afterwards the clone is
//!   reset ([`reset`]), or recreated from the template when a reset cannot undo what the
//!   test did. On an external server, which other machines may share, database mode creates
//!   and drops a database per test instead.
//! - Under nextest the [`janitor`] resets the clones that ended processes left used.

pub(crate) mod database;
pub(crate) mod fresh;
pub(crate) mod janitor;
pub(crate) mod leases;
#[cfg(unix)]
pub(crate) mod relay;
pub(crate) mod reset;
pub(crate) mod transaction;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leases::Lease;

use crate::ephemeral::state_dir::ServerFiles;

use super::error::HarnessError;
use super::schema::template::clone_template;
use super::session::Session;
use super::sql::{is_insufficient_resources, is_missing_database, is_refused_role};

/// The `application_name` of the relay's idle sessions ([`relay`], on Unix), by which the
/// harness tells them from a test's.
pub(crate) const RELAY_APPLICATION: &str = "persistence relay";

/// More clones than any machine runs tests at once; past it something is wrong.
const MAX_CLONES: u32 = 1024;

/// How long a test waits for room on the server (connections, disk) before it fails.
const CAPACITY_WAIT: Duration = Duration::from_secs(120);

/// Clones a process keeps between its tests, by template key.
pub(crate) struct FreeList<T>(Mutex<Option<HashMap<String, Vec<T>>>>);

impl<T> FreeList<T> {
    pub(crate) const fn new() -> Self {
        Self(Mutex::new(None))
    }

    pub(crate) fn pop(&self, key: &str) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()?
            .get_mut(key)?
            .pop()
    }

    pub(crate) fn push(&self, key: &str, item: T) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .entry(key.to_owned())
            .or_default()
            .push(item);
    }
}

/// Leases clones of one template and mode in turn: the first free one, then the next, and
/// from the first again after waiting (up to [`CAPACITY_WAIT`]) when all are leased or the
/// server has no room. The caller prepares each clone it gets and asks for the next one if
/// that fails (a loop of its own rather than a callback: the futures stay `Send`).
pub(crate) struct Leasing<'s> {
    files: &'s ServerFiles,
    prefix: &'static str,
    key: &'s str,
    next: u32,
    started: Instant,
}

impl<'s> Leasing<'s> {
    /// Leasing the clones of the session's template whose names start with `prefix`.
    pub(crate) fn new(session: &'s Session, prefix: &'static str) -> Self {
        Self {
            files: session.files(),
            prefix,
            key: &session.names.key,
            next: 0,
            started: Instant::now(),
        }
    }

    /// The next clone whose lease is free, with its lease.
    pub(crate) fn next(&mut self) -> Result<(String, Lease), HarnessError> {
        loop {
            while self.next < MAX_CLONES {
                let name = clone_name(self.prefix, self.key, self.next);
                self.next += 1;
                if let Some(lease) =
                    Lease::try_take(self.files, &name).map_err(lease_error(self.files))?
                {
                    return Ok((name, lease));
                }
            }
            self.no_room(&HarnessError::NoClone { limit: MAX_CLONES })?;
        }
    }

    /// The server had no room for the clone (`err`): waits a little, then starts over from
    /// the first clone; gives up with `err` after [`CAPACITY_WAIT`].
    pub(crate) fn no_room(&mut self, err: &HarnessError) -> Result<(), HarnessError> {
        wait_for_room(err, self.started)?;
        self.next = 0;
        Ok(())
    }
}

/// Clone `n` of the template `key`, among the clones whose names start with `prefix`.
pub(crate) fn clone_name(prefix: &str, key: &str, n: u32) -> String {
    format!("{prefix}{key}_{n}")
}

/// Creates the clone `name` from the session's template (building the template first if
/// needed), dropping an old one when `replace`. Returns the watermark of the fresh clone.
pub(crate) async fn create_clone(
    session: &Session,
    name: &str,
    replace: bool,
) -> Result<u64, HarnessError> {
    let mut admin = session.admin().await?;
    session.ensure_template(&mut admin).await?;
    let template = &session.names.template;
    let made = match clone_template(&mut admin, session.server, template, name, replace).await {
        Err(HarnessError::Sql { source, .. }) if is_missing_database(&source) => {
            // The template was dropped behind this process's back (a prune elsewhere).
            super::schema::template::forget(&session.names);
            session.ensure_template(&mut admin).await?;
            clone_template(&mut admin, session.server, template, name, false).await
        }
        made => made,
    };
    admin.release().await;
    made
}

/// Whether `err` is a connection refused because the clone's database does not exist, or
/// because the test role does not yet: another process may be building the template,
/// which makes the role first. Both are made (or waited for) with the clone.
pub(crate) fn missing(err: &HarnessError) -> bool {
    matches!(err, HarnessError::Connect { source, .. }
        if is_missing_database(source) || is_refused_role(source))
}

/// Errors that say the server has no room now (connections, disk, memory), which a test
/// waits out instead of failing.
pub(crate) fn is_capacity(err: &HarnessError) -> bool {
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
    static SAID: AtomicBool = AtomicBool::new(false);
    if started.elapsed() > CAPACITY_WAIT {
        return Err(HarnessError::Capacity {
            waited: CAPACITY_WAIT,
            detail: err.to_string(),
        });
    }
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "persistence: a test waits for a clone: {err}; it goes on when another test gives \
             one back (raise the server's max_connections or its disk space to run more at once)"
        );
    }
    std::thread::sleep(Duration::from_millis(20));
    Ok(())
}

pub(crate) fn lease_error(files: &ServerFiles) -> impl FnOnce(std::io::Error) -> HarnessError + '_ {
    move |source| HarnessError::State {
        action: if files.dir().exists() {
            "taking a clone lease"
        } else {
            "taking a clone lease (its directory vanished)"
        },
        source,
    }
}
