//! The janitor: the supervisor's side job that keeps database-mode clones ready.
//!
//! Under `cargo nextest run` every test is a process of its own, which ends with its test.
//! Resetting its clone there would put the reset on the test's critical path, on a fresh
//! connection whose backend has cold caches (the costly part). So such a process leaves its
//! clone in use, and the supervisor of the server (a long-lived process: see
//! [`crate::ephemeral::supervisor`]) makes it clean again in the background, once the
//! process and its connections are gone. It also keeps a few clean clones per template
//! ready (`PERSISTENCE_TEST_READY_CLONES`), so that the first tests of a run rarely wait for
//! `CREATE DATABASE`.
//!
//! The reset's cost is the cold backend: a fresh session plans the reset's look (some 40
//! subqueries over the clone's tables and catalogs) in ~10 ms of server time, a session that
//! already did costs ~1 ms. So the janitor keeps its session in each clone it resets
//! ([`WARM_SESSIONS`] at most), idle between resets, under the application name
//! [`JANITOR_APPLICATION`]: a test sees it in `pg_stat_activity`, and the harness ends it
//! before it renames a kept database.
//!
//! The janitor works under the same leases as the tests ([`super::leases`]): it only touches
//! a clone whose lease it holds, and a dead janitor leaves the same states a dead test does,
//! which the next holder repairs. Under `cargo test`, a process keeps its clones and their
//! warm connections between its tests and resets them itself: the janitor finds them leased.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, PgConnection};

use super::clone_name;
use super::leases::{CloneState, Existing, Lease};
use super::reset::{Profile, Reset, load_profile};
use crate::ephemeral::state_dir::{ServerFiles, StateDir};
use crate::ephemeral::supervisor::SideJobContext;
use crate::ephemeral::{Server, Settings};
use crate::testing::error::HarnessError;
use crate::testing::schema::names::{DB_CLONE_PREFIX, parse_clone, template_name};
use crate::testing::schema::template::clone_template;
use crate::testing::session::Session;
use crate::testing::sql::{is_missing_database, template_mark};

/// The application name of the janitor's sessions, which stay in the clones it resets.
pub(crate) const JANITOR_APPLICATION: &str = "persistence janitor";

/// The most sessions the janitor keeps warm: one per clone, for as many clones as tests run
/// at once (nextest's `-j`), up to the part of the server's `max_connections` that the
/// tests' connection budget leaves to the janitor.
const WARM_SESSIONS: usize = super::reserve::JANITOR_SESSIONS as usize;

/// How often the janitor looks for work while tests run: a nextest slot starts its next
/// test a few milliseconds after the last one ended.
const POLL: Duration = Duration::from_millis(2);

/// How often it looks when nothing has happened for a while (no test runs).
const IDLE_POLL: Duration = Duration::from_millis(50);

/// How long a template whose clone could not be made is left alone.
const BACK_OFF: Duration = Duration::from_secs(1);

/// How many clean, unleased database-mode clones the janitor keeps per template
/// (`PERSISTENCE_TEST_READY_CLONES`); `0` turns the janitor off (each test process then
/// resets its own clone, as under `cargo test`). Two keep a 2-core machine's nextest slots
/// fed; more machines run more tests at once, but each used clone comes back within a few
/// milliseconds, so the queue rarely needs to be deeper. (The janitor clones only a complete
/// template: one being built or rebuilt is left to the tests' own processes, under the
/// template's lock.)
fn ready_clones() -> u32 {
    Settings::get().map_or(crate::ephemeral::DEFAULT_READY_CLONES, |s| s.ready_clones)
}

/// Whether this process leaves its used database-mode clones to the janitor: it runs one
/// test and ends (nextest's process-per-test mode), the janitor is on, and the server's
/// supervisor runs one (a server that `persistence dev` or a program without the harness
/// started has none). Decided once per process.
pub(crate) fn takes_used_clones(session: &Session) -> bool {
    static TAKES: OnceLock<bool> = OnceLock::new();
    *TAKES.get_or_init(|| {
        Settings::get().is_ok_and(|s| s.one_test_per_process)
            && ready_clones() > 0
            && janitor_runs(session.files())
    })
}

fn janitor_runs(files: &ServerFiles) -> bool {
    std::fs::File::open(files.janitor_lock()).is_ok_and(|file| {
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    })
}

/// The supervisor's side job, the janitor and the relay ([`super::relay`]): runs until the
/// supervisor raises `stop`.
pub(crate) fn run(context: SideJobContext) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let files = StateDir::new(&context.state_dir).files_of(&context.server.instance_id);
    // Its tasks run on this runtime, while the janitor's loop (or the wait below) runs.
    #[cfg(unix)]
    let relay = runtime.block_on(async { start_relay(&context, &files) });
    #[cfg(unix)]
    let relayed = relay.as_ref().map(|relay| relay.idle.clone());
    // The relay listens (or will not): the server may be reported ready.
    let _ = context.in_place.send(());
    let depth = ready_clones();
    if depth == 0 {
        runtime.block_on(async {
            while !context.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(IDLE_POLL).await;
            }
        });
        return;
    }
    // Held while the janitor runs, so that test processes know someone resets their clones.
    let held = files.create().and_then(|()| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(files.janitor_lock())?;
        file.lock()?;
        Ok(file)
    });
    let Ok(_held) = held else {
        return;
    };
    let mut janitor = Janitor {
        server: Server::from_state(context.server.clone(), &context.state_dir),
        files,
        #[cfg(unix)]
        relayed,
        depth,
        admin: None,
        warm: HashMap::new(),
        profiles: HashMap::new(),
        resting: HashMap::new(),
    };
    runtime.block_on(async {
        let mut last_work = Instant::now();
        while !context.stop.load(Ordering::Relaxed) {
            if janitor.round().await {
                last_work = Instant::now();
            } else if last_work.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(POLL).await;
            } else {
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
        if let Some(admin) = janitor.admin.take() {
            let _ = admin.close().await;
        }
        for (_, conn) in janitor.warm.drain() {
            let _ = conn.close().await;
        }
    });
}

/// The relay of the server the supervisor owns, if it is a native one and relaying is on.
#[cfg(unix)]
fn start_relay(context: &SideJobContext, files: &ServerFiles) -> Option<super::relay::Relay> {
    if !Settings::get().is_ok_and(|s| s.relay) {
        return None;
    }
    let (dir, upstream) = context.server.relay_sockets()?;
    let socket = dir.join(upstream.file_name()?);
    if !crate::ephemeral::platform::socket_path_fits(&socket) {
        return None;
    }
    match files
        .create()
        .and_then(|()| super::relay::Relay::start(files, &dir, upstream))
    {
        Ok(relay) => Some(relay),
        Err(error) => {
            tracing::warn!(%error, "persistence: no relay: test processes connect to the server");
            None
        }
    }
}

struct Janitor {
    server: Server,
    /// The server's lease files (and the templates' profiles).
    files: ServerFiles,
    /// The relay's idle sessions, which may wait in a clone the janitor resets.
    #[cfg(unix)]
    relayed: Option<Arc<super::relay::Idle>>,
    depth: u32,
    /// A connection to the maintenance database, kept warm for `CREATE DATABASE`.
    admin: Option<PgConnection>,
    /// A session per clone it reset, kept for its next reset (see the module's docs).
    warm: HashMap<String, PgConnection>,
    /// The templates' profiles, by key, as read from their files.
    profiles: HashMap<String, Arc<Profile>>,
    /// Templates left alone until then (their clone could not be made).
    resting: HashMap<String, Instant>,
}

impl Janitor {
    /// One pass over the clones: resets the used ones, then makes one more clean clone for
    /// a template short of its ready clones. `true` if it did anything.
    async fn round(&mut self) -> bool {
        let mut worked = false;
        let mut ready: BTreeMap<String, u32> = BTreeMap::new();
        let mut clones: BTreeMap<String, HashSet<u32>> = BTreeMap::new();
        for (key, n) in db_clones(&self.files) {
            clones.entry(key.clone()).or_default().insert(n);
            let name = clone_name(DB_CLONE_PREFIX, &key, n);
            let Ok(Existing::Taken(mut lease)) = Lease::try_take_existing(&self.files, &name)
            else {
                continue;
            };
            let clean = match lease.state() {
                CloneState::Clean { .. } => true,
                CloneState::InUse { watermark } => {
                    worked = true;
                    self.reset(&mut lease, &key, &name, watermark).await
                }
                CloneState::Unknown => {
                    worked = true;
                    self.recreate(&mut lease, &key, &name).await
                }
            };
            if clean {
                *ready.entry(key).or_default() += 1;
            }
        }
        for (key, numbers) in &clones {
            let short = ready.get(key).copied().unwrap_or(0) < self.depth;
            let resting = self
                .resting
                .get(key)
                .is_some_and(|until| Instant::now() < *until);
            if short && !resting && self.profile(key).is_some() {
                // The lowest free number, as tests would take it.
                let n = (0..).find(|n| !numbers.contains(n)).unwrap_or(0);
                let name = clone_name(DB_CLONE_PREFIX, key, n);
                if let Ok(Some(mut lease)) = Lease::try_take(&self.files, &name) {
                    worked = true;
                    self.recreate(&mut lease, key, &name).await;
                }
            }
        }
        worked
    }

    /// Makes the used clone `name` clean again; `true` if it is. A clone that some session
    /// still uses (its test's process is still ending) is left for a later round.
    async fn reset(&mut self, lease: &mut Lease, key: &str, name: &str, watermark: u64) -> bool {
        let Some(profile) = self.profile(key) else {
            return self.recreate(lease, key, name).await;
        };
        let mut conn = match self.session(name).await {
            Ok(conn) => conn,
            Err(err) if is_missing_database(&err) => return self.recreate(lease, key, name).await,
            Err(_) => return false,
        };
        // The relay's idle sessions wait in the clone for the next test: they hold nothing.
        #[cfg(unix)]
        let relayed: Vec<i32> = self
            .relayed
            .as_ref()
            .map(|idle| idle.pids())
            .unwrap_or_default();
        #[cfg(not(unix))]
        let relayed: Vec<i32> = Vec::new();
        let others: Result<i64, _> = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND pid <> ALL($1)",
        )
        .bind(&relayed)
        .fetch_one(&mut conn)
        .await;
        let others = match others {
            Ok(n) => n,
            // Ended behind the janitor's back (a recreated or renamed clone): a new session
            // next round.
            Err(_) => return false,
        };
        if others > 0 {
            self.keep_warm(name, conn).await;
            return false;
        }
        match profile.reset(&mut conn, watermark, None).await {
            Ok(Reset::Untouched) => {
                lease.record(CloneState::Clean { watermark });
                self.keep_warm(name, conn).await;
                true
            }
            Ok(Reset::Cleaned { watermark }) => {
                lease.record(CloneState::Clean { watermark });
                self.keep_warm(name, conn).await;
                true
            }
            Ok(Reset::Recreate) | Err(_) => {
                // The session goes with the database.
                let _ = conn.close().await;
                self.recreate(lease, key, name).await
            }
        }
    }

    /// The profile of the template `key`, read from its file once: a template's profile
    /// never changes (its key is a hash of the schema), and the janitor asks for it at every
    /// poll while tests run.
    fn profile(&mut self, key: &str) -> Option<Arc<Profile>> {
        if let Some(profile) = self.profiles.get(key) {
            return Some(profile.clone());
        }
        let profile = Arc::new(load_profile(&self.files, key)?);
        self.profiles.insert(key.to_owned(), profile.clone());
        Some(profile)
    }

    /// The janitor's session in the clone `name`: the warm one it kept, or a new one.
    async fn session(&mut self, name: &str) -> Result<PgConnection, sqlx::Error> {
        if let Some(conn) = self.warm.remove(name) {
            return Ok(conn);
        }
        self.server
            .options_for(name)
            .application_name(JANITOR_APPLICATION)
            .connect()
            .await
    }

    /// Keeps `conn`, a session in the clone `name`, for the clone's next reset, unless the
    /// janitor keeps enough sessions already.
    async fn keep_warm(&mut self, name: &str, conn: PgConnection) {
        if self.warm.len() < WARM_SESSIONS {
            self.warm.insert(name.to_owned(), conn);
        } else {
            let _ = conn.close().await;
        }
    }

    /// Makes `name` a fresh clone of its template; `true` if it is one now.
    async fn recreate(&mut self, lease: &mut Lease, key: &str, name: &str) -> bool {
        lease.record(CloneState::Unknown);
        if let Some(conn) = self.warm.remove(name) {
            let _ = conn.close().await;
        }
        let template = template_name(key);
        let admin = match self.admin.take() {
            Some(admin) => Ok(admin),
            None => self.server.admin_options().connect().await,
        };
        let made = match admin {
            Ok(mut admin) => {
                let made = match complete(&mut admin, &template).await {
                    Ok(true) => {
                        clone_template(&mut admin, &self.server, &template, name, true).await
                    }
                    Ok(false) => {
                        // Being built or rebuilt: the tests' own processes make this
                        // clone, under the template's lock.
                        self.admin = Some(admin);
                        self.resting
                            .insert(key.to_owned(), Instant::now() + BACK_OFF);
                        return false;
                    }
                    Err(err) => Err(err),
                };
                // A connection that failed is made anew next time.
                if made.is_ok() {
                    self.admin = Some(admin);
                }
                made
            }
            Err(source) => Err(HarnessError::connect(
                self.server.display_url("postgres"),
                source,
            )),
        };
        match made {
            Ok(watermark) => {
                lease.record(CloneState::Clean { watermark });
                true
            }
            Err(err) => {
                // The template may have been pruned: leave it alone for a while.
                tracing::debug!(clone = name, %err, "persistence: the janitor could not make a clone");
                self.resting
                    .insert(key.to_owned(), Instant::now() + BACK_OFF);
                false
            }
        }
    }
}

/// Whether `template` is complete (marked `IS_TEMPLATE` after its last migration): one
/// being built or rebuilt must not be cloned.
async fn complete(admin: &mut PgConnection, template: &str) -> Result<bool, HarnessError> {
    Ok(template_mark(admin, template).await? == Some(true))
}

/// The database-mode clones that have a lease file: `(template key, number)`.
fn db_clones(files: &ServerFiles) -> Vec<(String, u32)> {
    let mut clones: Vec<(String, u32)> = files
        .leased_clones()
        .iter()
        .filter_map(|name| {
            let (key, n) = parse_clone(DB_CLONE_PREFIX, name)?;
            Some((key.to_owned(), n))
        })
        .collect();
    clones.sort();
    clones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_database_clone_leases_are_the_janitors() {
        let dir = std::env::temp_dir().join(format!("persistence-janitor-{}", std::process::id()));
        let files = StateDir::new(&dir).files_of("test");
        files.create().expect("dir");
        for file in [
            "persistence_db_00aa_1.lock",
            "persistence_db_00aa_0.lock",
            "persistence_tx_00aa_0.lock",
            "00aa.profile.json",
            "persistence_db_00aa_x.lock",
        ] {
            std::fs::write(files.dir().join(file), "").expect("file");
        }
        let found = db_clones(&files);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(found, vec![("00aa".to_owned(), 0), ("00aa".to_owned(), 1)]);
    }
}
