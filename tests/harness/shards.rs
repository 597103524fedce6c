//! CI shards: several machines each run a partition of the suite
//! (`cargo nextest run --partition count:K/N`) against one PostgreSQL service through
//! `TEST_DATABASE_URL`. Machines share no state directory, so everything they share must
//! live in the server: a transaction-mode clone is claimed with an advisory lock in it, a
//! database-mode test gets a database of its own owned through an advisory lock, and a
//! template is built under an advisory lock.
//!
//! The test plays three machines (three state directories) against one plain server: a
//! shard killed mid-run (every process of it, as when a CI machine goes away), then two
//! partitions at once. Both pass (each case asserts it alone sees its rows), the killed
//! shard's databases and locks are reclaimed, and once they end nothing of a test is left
//! on the server: no per-test or kept database, no session, no advisory lock (templates
//! and transaction-mode clones stay for the next run, by design).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::ephemeral::Server;
use sqlx::{Connection, PgConnection, PgPool};

use crate::common::cargo::nested_nextest;
use crate::common::scenario::{SCENARIO, scenario_is};
use crate::common::server::PrivateServer;
use crate::common::tempdir::temp_dir;

/// Where a killed shard's test processes write their pids (they are in process groups of
/// nextest's, not the driver's).
const PIDS_DIR: &str = "PERSISTENCE_SHARD_PIDS";

/// The nested suite: the cases below.
const CASES: &str = "binary_id(persistence-pg::harness) & test(/^shards::case_/)";

async fn write_and_count(conn: &mut PgConnection) -> i64 {
    sqlx::query(
        "INSERT INTO users (id, email, display_name) OVERRIDING SYSTEM VALUE \
         VALUES (1, 'one@example.com', 'One')",
    )
    .execute(&mut *conn)
    .await
    .expect("the same fixed id in every case: a shared database would refuse it");
    if scenario_is("shard-killed") {
        if let Some(dir) = std::env::var_os(PIDS_DIR) {
            let pid = std::process::id().to_string();
            std::fs::write(Path::new(&dir).join(&pid), &pid).expect("record the pid");
        }
        // Killed while it waits here, its transaction or database open.
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(conn)
        .await
        .expect("count")
}

fn acting() -> bool {
    scenario_is("shard") || scenario_is("shard-killed")
}

macro_rules! cases {
    ($($tx:ident $db:ident),* $(,)?) => {$(
        #[db_test(migrator = "crate::SCHEMA")]
        async fn $tx(conn: &mut PgConnection) {
            if acting() {
                assert_eq!(write_and_count(conn).await, 1);
            }
        }

        #[db_test(migrator = "crate::SCHEMA")]
        async fn $db(pool: PgPool) {
            if acting() {
                let mut conn = pool.acquire().await.expect("acquire");
                assert_eq!(write_and_count(&mut conn).await, 1);
            }
        }
    )*};
}

cases!(
    case_tx_1 case_db_1, case_tx_2 case_db_2, case_tx_3 case_db_3,
    case_tx_4 case_db_4, case_tx_5 case_db_5, case_tx_6 case_db_6,
);

/// The CI service: a plain server of its own (native, in a private state directory), which
/// the shards reach as an external server through its URL.
struct Service(PrivateServer);

impl Service {
    async fn start() -> Self {
        Self(PrivateServer::start("shards-service").await)
    }

    fn server(&self) -> &Server {
        self.0.server()
    }

    async fn admin(&self) -> PgConnection {
        PgConnection::connect_with(self.server().admin_options())
            .await
            .expect("connect to the service")
    }
}

/// A shard: `cargo nextest run --partition count:K/N` of the cases, as a machine of its own
/// (its own state directory) with `TEST_DATABASE_URL` pointing at the service.
fn shard(url: &str, partition: &str, machine: &Path, scenario: &str) -> Command {
    let mut command = nested_nextest(CASES);
    command
        .args(["--partition", partition])
        .env("PERSISTENCE_STATE_DIR", machine)
        .env("PERSISTENCE_TEST_BACKEND", "external")
        .env("TEST_DATABASE_URL", url)
        .env(SCENARIO, scenario)
        .stdin(Stdio::null());
    command
}

fn spawn_captured(mut command: Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a shard")
}

/// A session as `pg_stat_activity` shows it: application, database, state, statement.
type Activity = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Names of the databases on the service whose names match `like`.
async fn databases(admin: &mut PgConnection, like: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1 ORDER BY 1")
        .bind(like)
        .fetch_all(admin)
        .await
        .expect("list databases")
}

/// Sessions of the cases (their application_name is the case's name).
async fn case_sessions(admin: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%shards::case\\_%'",
    )
    .fetch_one(admin)
    .await
    .expect("activity")
}

/// Waits up to `limit` for `condition`; whether it held.
async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    condition().await
}

/// SIGKILL for every process of a shard, as when its machine goes away: its cargo and
/// nextest first (no case starts after), then its cases, which run in process groups of
/// nextest's; again for a moment, for a case that was starting.
#[cfg(unix)]
fn kill_machine(child: &mut Child, pids: &Path) {
    // SAFETY: kill(2) on the child's process group (it was spawned as its leader).
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for pid in recorded_pids(pids) {
            // SAFETY: kill(2) on a pid a case of the killed shard recorded.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn recorded_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|p| p.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_share_one_server_and_a_killed_one_is_reclaimed() {
    use std::os::unix::process::CommandExt;

    if std::env::var_os(SCENARIO).is_some() {
        return;
    }
    let begun = Instant::now();
    let service = Service::start().await;
    let url = service.server().owner_url("postgres");
    let mut admin = service.admin().await;

    // A machine that goes away mid-run: killed while its cases hold a transaction-mode
    // clone and a database of their own.
    let killed_machine = temp_dir("shards-killed");
    let pids = temp_dir("shards-pids");
    let mut killed = shard(&url, "count:1/3", killed_machine.path(), "shard-killed");
    let log = pids.path().join("output.log");
    let log_file = std::fs::File::create(&log).expect("log");
    // Its four cases at once, two of each mode.
    killed
        .args(["-j", "4"])
        .env(PIDS_DIR, pids.path())
        .process_group(0)
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file);
    let mut killed = killed.spawn().expect("spawn the shard to kill");
    let started = eventually(Duration::from_secs(90), async || {
        recorded_pids(pids.path()).len() >= 4
            && case_sessions(&mut admin).await >= 4
            && !databases(&mut admin, "persistence\\_t\\_%")
                .await
                .is_empty()
    })
    .await;
    let left = databases(&mut admin, "persistence\\_t\\_%").await;
    let activity: Vec<Activity> = sqlx::query_as(
        "SELECT application_name, datname::text, state, left(query, 80) FROM pg_stat_activity \
         WHERE backend_type = 'client backend'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("activity");
    let seen = recorded_pids(pids.path());
    kill_machine(&mut killed, pids.path());
    eprintln!("shards: killed the third shard at {:?}", begun.elapsed());
    assert!(
        started,
        "the killed shard never got its cases running (pids {seen:?}, databases {:?}, \
         sessions {activity:?}):\n{}",
        databases(&mut admin, "%").await,
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        !left.is_empty(),
        "the killed shard left no database to reclaim"
    );

    // Two machines at once, the next run.
    let (one, two) = (temp_dir("shards-one"), temp_dir("shards-two"));
    let first = spawn_captured(shard(&url, "count:1/2", one.path(), "shard"));
    let second = spawn_captured(shard(&url, "count:2/2", two.path(), "shard"));
    for (name, child) in [("count:1/2", first), ("count:2/2", second)] {
        let output = child.wait_with_output().expect("shard output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "shard {name} failed:\n{text}");
        assert!(
            text.contains("6 tests run: 6 passed"),
            "shard {name} did not run its 6 cases:\n{text}"
        );
    }

    eprintln!("shards: both partitions passed at {:?}", begun.elapsed());
    // Nothing of a test is left: the killed shard's databases were dropped by the next run,
    // every session ended, every lock released, nothing kept.
    let clean = eventually(Duration::from_secs(30), async || {
        case_sessions(&mut admin).await == 0
            && databases(&mut admin, "persistence\\_t\\_%")
                .await
                .is_empty()
    })
    .await;
    eprintln!("shards: clean at {:?}", begun.elapsed());
    let test_dbs = databases(&mut admin, "persistence\\_t\\_%").await;
    assert!(
        clean,
        "left on the server: databases {test_dbs:?} (the killed shard had {left:?}), {} sessions",
        case_sessions(&mut admin).await
    );
    let kept = databases(&mut admin, "persistence\\_keep\\_%").await;
    assert!(kept.is_empty(), "kept databases: {kept:?}");
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .fetch_one(&mut admin)
            .await
            .expect("locks");
    assert_eq!(locks, 0, "advisory locks are still held");
    // What stays, by design: the template and the transaction-mode clones, for the next run.
    let stays = databases(&mut admin, "persistence\\_%").await;
    assert!(
        stays
            .iter()
            .all(|db| db.starts_with("persistence_tpl_") || db.starts_with("persistence_tx_")),
        "unexpected databases: {stays:?}"
    );
    let _ = admin.close().await;
    drop(service);
}
