use persistence::db_test;
use sqlx::PgConnection;

// Stands for `tokio::time` (whose `pause` needs tokio's `test-util` feature): the macro reads
// the path as written.
mod time {
    pub fn pause() {}
}

// A test runs on a current-thread runtime by default, which `pause` needs: no error.
#[db_test]
async fn paused(conn: &mut PgConnection) {
    time::pause();
    let _ = conn;
}

#[db_test(flavor = "multi_thread")]
async fn paused_on_many_threads() {
    crate::time::pause();
}

#[db_test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_on_two_threads(conn: &mut PgConnection) {
    time::pause();
    let _ = conn;
}

// Said explicitly: no error either.
#[db_test(flavor = "current_thread")]
async fn paused_on_its_own_runtime() {
    time::pause();
}

fn main() {}
