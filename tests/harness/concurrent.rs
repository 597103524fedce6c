//! Tests that run at the same time never see, wait for or deadlock with each other: each
//! runs in a clone of the template that no other running test holds.
//!
//! The `#[db_test]`s below are the cases that failed when transaction mode shared one working
//! database: run them with `cargo test --test harness -- concurrent:: --test-threads 16`
//! (or under nextest) and any two of them overlap.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use persistence::db_test;
use persistence::testing::{Fixture, TestDb, TestSpec, run};
use sqlx::{PgConnection, PgPool};

const PAUSE: Duration = Duration::from_millis(150);

async fn insert_user(conn: &mut PgConnection, email: &str) {
    sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'Someone')")
        .bind(email)
        .execute(conn)
        .await
        .expect("insert");
}

// In one shared database these two deadlock: each holds the unique value the other inserts
// next (SQLSTATE 40P01), or one waits for the other's rollback.
#[db_test(migrator = "crate::SCHEMA")]
async fn inserts_a_then_b(conn: &mut PgConnection) {
    insert_user(conn, "a@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(conn, "b@example.com").await;
}

#[db_test(migrator = "crate::SCHEMA")]
async fn inserts_b_then_a(conn: &mut PgConnection) {
    insert_user(conn, "b@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(conn, "a@example.com").await;
}

// The same rows with fixed ids, from a fixture, then the other order of two more.
#[db_test(migrator = "crate::SCHEMA", fixtures("users"))]
async fn fixed_ids_then_a_then_b(conn: &mut PgConnection) {
    insert_user(conn, "a@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(conn, "b@example.com").await;
}

#[db_test(migrator = "crate::SCHEMA", fixtures("users"))]
async fn fixed_ids_then_b_then_a(conn: &mut PgConnection) {
    insert_user(conn, "b@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(conn, "a@example.com").await;
}

// Database mode commits: two tests that commit the same unique rows must not collide.
#[db_test(migrator = "crate::SCHEMA", fixtures("users"))]
async fn commits_fixed_ids_and_a(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("acquire");
    insert_user(&mut conn, "a@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(&mut conn, "b@example.com").await;
}

#[db_test(migrator = "crate::SCHEMA", fixtures("users"))]
async fn commits_fixed_ids_and_b(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("acquire");
    insert_user(&mut conn, "b@example.com").await;
    tokio::time::sleep(PAUSE).await;
    insert_user(&mut conn, "a@example.com").await;
}

/// A barrier that gives up: `true` once `n` threads arrived, `false` after `limit`.
struct Meeting {
    arrived: Mutex<usize>,
    all_here: Condvar,
    n: usize,
}

impl Meeting {
    fn new(n: usize) -> Self {
        Self {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            n,
        }
    }

    fn arrive_and_wait(&self, limit: Duration) -> bool {
        let mut arrived = self.arrived.lock().expect("lock");
        *arrived += 1;
        self.all_here.notify_all();
        let (arrived, _) = self
            .all_here
            .wait_timeout_while(arrived, limit, |a| *a < self.n)
            .expect("wait");
        *arrived >= self.n
    }
}

/// Runs `test` on `n` threads at once and returns what each returned.
fn on_threads<T: Send>(n: usize, test: impl Fn() -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n).map(|_| scope.spawn(&test)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("test thread"))
            .collect()
    })
}

const USERS: &[Fixture] = &[Fixture::new(
    "tests/harness/fixtures/users.sql",
    include_str!("fixtures/users.sql"),
)];

/// N tests load the same fixed-id fixture and then wait until all N are inside their
/// transaction at once. Had one waited for another's row locks, they could never all
/// meet: the one holding the locks waits at the meeting, the others behind its locks.
#[test]
fn tests_holding_the_same_rows_all_run_at_once() {
    const N: usize = 8;
    // Owned by each body: a transaction-mode body may outlive any borrow it is given.
    let meeting = std::sync::Arc::new(Meeting::new(N));
    let spec = TestSpec::new("concurrent::same_rows")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    let met: Vec<bool> = on_threads(N, || {
        let meeting = meeting.clone();
        run::transaction(&spec, move |conn| {
            Box::pin(async move {
                let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                    .fetch_one(&mut *conn)
                    .await
                    .expect("count");
                assert_eq!(users, 3, "the fixture's rows, and no one else's");
                Ok::<_, std::convert::Infallible>(meeting.arrive_and_wait(Duration::from_secs(30)))
            })
        })
        .expect("infallible")
    });
    assert!(
        met.iter().all(|m| *m),
        "some tests waited for others: {met:?}"
    );
}

/// The same in database mode, where each test commits the fixture's rows.
#[test]
fn database_tests_committing_the_same_rows_all_run_at_once() {
    const N: usize = 6;
    let meeting = Meeting::new(N);
    let spec = TestSpec::new("concurrent::same_rows_db")
        .migrator(&crate::SCHEMA)
        .fixtures(USERS);
    let names: Vec<(String, bool)> = on_threads(N, || {
        let meeting = &meeting;
        run::database(&spec, |db: TestDb| async move {
            let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(db.pool())
                .await
                .expect("count");
            assert_eq!(users, 3, "the fixture's rows, and no one else's");
            // Blocks this test's own thread (block_on runs the test there).
            let met = meeting.arrive_and_wait(Duration::from_secs(30));
            Ok::<_, std::convert::Infallible>((db.name().to_owned(), met))
        })
        .expect("infallible")
    });
    assert!(
        names.iter().all(|(_, met)| *met),
        "some tests waited: {names:?}"
    );
    let mut distinct: Vec<&String> = names.iter().map(|(n, _)| n).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        N,
        "each test had a database of its own: {names:?}"
    );
}
