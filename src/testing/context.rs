//! Everything the harness keeps for the life of a process, in one place: [`harness()`].
//!
//! Each `#[db_test]` is a function of its own that libtest (or nextest) calls, so what one
//! test leaves for the next of the same process (a runtime, warm pools, leased clones,
//! what it learnt about a template) can only live in process-wide state. None of it is ever
//! dropped: it ends with the process, and the kernel (file locks) and PostgreSQL (sessions,
//! advisory locks) release what it held then. Per-test state is not here: it lives in the
//! test's own values, and the seeded generator in a task-local ([`super::seed`]).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::PgPool;
use tokio::runtime::Runtime;

use super::clones::{DbClone, TxClone};
use super::profile::Profile;

/// Clones kept between the tests of a process, by template key.
pub(crate) type FreeList<T> = Mutex<HashMap<String, Vec<T>>>;

/// The harness's process-wide state. Every field is filled on first use.
#[derive(Default)]
pub(crate) struct Harness {
    /// The multi-thread runtime of [`RuntimeFlavor::Shared`](super::RuntimeFlavor::Shared)
    /// tests ([`super::runtime`]). Built by the first such test; the pools below belong to it,
    /// which is why only its tests may use them.
    pub(crate) runtime: OnceLock<Runtime>,
    /// The pool of connections to the maintenance database for tests of the process-wide
    /// pool policy ([`super::connections`]), opened lazily and kept warm.
    pub(crate) admin_pool: OnceLock<PgPool>,
    /// Transaction-mode clones this process leased and keeps, each with its connection,
    /// between its tests on the shared runtime ([`super::clones`]). Their leases are held as
    /// long as they are listed.
    pub(crate) free_tx: FreeList<TxClone>,
    /// Database-mode clones this process leased and keeps clean, with their warm pools,
    /// between its tests on the shared runtime.
    pub(crate) free_db: FreeList<DbClone>,
    /// What each template (by key) holds, read once from a clean clone or from the file a
    /// first process wrote ([`super::profile`]); a template never changes under its key.
    pub(crate) profiles: Mutex<HashMap<String, Arc<Profile>>>,
    /// The template keys this process saw complete, so later tests skip the template lock
    /// ([`super::template`]); a key is forgotten when its template turns out to be gone.
    pub(crate) ready_templates: Mutex<BTreeSet<String>>,
    /// The directories migrators were embedded from, by the migrator's address, so that a
    /// failing migration is named by its path on disk ([`super::stale`] records them).
    pub(crate) migration_dirs: Mutex<Vec<(usize, &'static str)>>,
    /// The directory of the clone leases on this process's server ([`super::leases`]); one
    /// server per process.
    pub(crate) lease_dir: OnceLock<PathBuf>,
    /// Whether this process has dropped the per-test databases of dead processes (external
    /// servers, [`super::database`]): once, before it takes any such database's lock.
    pub(crate) swept_test_databases: AtomicBool,
    /// Whether this process has said why a test waits for a clone: once is enough.
    pub(crate) said_waiting: AtomicBool,
    /// The janitor's ready-queue depth, read once from the environment ([`super::janitor`]).
    pub(crate) ready_clones: OnceLock<u32>,
    /// Whether this process leaves its used database-mode clones to the janitor (decided
    /// once: the process runs under nextest or does not).
    pub(crate) takes_used_clones: OnceLock<bool>,
    /// The seed of this run when the environment sets none, drawn once so that every test
    /// of the process derives its seed from the same one ([`super::seed`]).
    pub(crate) run_seed: OnceLock<u64>,
    /// Outside tests, the random part of the unique tokens, and their counter
    /// ([`super::token`]).
    pub(crate) token_nonce: OnceLock<String>,
    /// See `token_nonce`.
    pub(crate) token_counter: AtomicU64,
    /// Numbers the query counter's relay directories, unique within the process
    /// ([`super::queries`]).
    #[cfg(unix)]
    pub(crate) relay_dirs: AtomicU64,
}

/// The state of this process's harness.
pub(crate) fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::default)
}
