//! Lock waits that explain themselves: a test whose statement waits on a lock for longer
//! than `PERSISTENCE_TEST_LOCK_WAIT` (5 s by default) fails, saying which statement waits,
//! which session holds the lock, what that session runs (or ran last), which test it
//! belongs to, and whether it is the test itself.
//!
//! The classic case is a test that blocks itself: its transaction holds a row lock while
//! the code under test updates that row through the pool, and the test hangs with no word
//! on why. A test's database is its own while it runs, so the server can say whose
//! sessions wait for whom: the test's are those in its database. The test's name, which
//! every connection of the test carries as its `application_name`, is not enough: another
//! process may run a test of the same name at the same time (the same suite run twice, or
//! two crates with a `tests::it_works` each), and its waits are not this test's to report
//! or to cancel.
//!
//! It costs nothing while nothing waits: a timer that fires only for a body still running
//! after the threshold; from then on, a session of the watchdog's own asks
//! `pg_stat_activity` and `pg_blocking_pids()` once a second. A body that merely runs a slow
//! statement (`pg_sleep`, a long scan) is not waiting on a lock and is left alone.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, select};
use sqlx::{Connection, PgConnection};

use crate::ephemeral::Settings;
use crate::testing::session::Session;

/// How often the watchdog looks again once the threshold has passed.
const POLL: Duration = Duration::from_secs(1);

/// The watchdog's own `application_name`.
const WATCHDOG_APPLICATION: &str = "persistence lock watch";

/// What the watchdog found: a statement of the test that waited on a lock too long. Its
/// `Display` is the report the test fails with.
#[derive(Debug)]
pub(crate) struct LockWait {
    report: String,
    /// The waiting session.
    waiter: i32,
}

impl std::fmt::Display for LockWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report)
    }
}

/// Runs `body`, the body of the test `test` whose database is `database`; stops it with a
/// [`LockWait`] when one of the test's statements has waited on a lock for longer than the
/// threshold.
pub(crate) async fn guard<F: Future>(
    session: &'static Session,
    test: &str,
    database: &str,
    body: F,
) -> Result<F::Output, LockWait> {
    let Some(limit) = Settings::get().ok().and_then(|s| s.lock_wait) else {
        return Ok(body.await);
    };
    let body = pin!(body);
    let watch = pin!(watch(session, test, database, limit));
    match select(body, watch).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((wait, mut conn), _)) => {
            // The body is not polled again (it is dropped when this returns), so the
            // statement's error cannot reach it and fail the test with a bare "canceling
            // statement". Its statement is cancelled: the session is usable again (its
            // transaction aborted), and nothing of the test waits on after it was stopped.
            let _ = sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(wait.waiter)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            Err(wait)
        }
    }
}

/// Waits out `limit`, then looks once per [`POLL`] until a statement of the test has waited
/// on a lock for `limit`; never returns while none has. Returns it with the watchdog's
/// session.
async fn watch(
    session: &Session,
    test: &str,
    database: &str,
    limit: Duration,
) -> (LockWait, PgConnection) {
    tokio::time::sleep(limit).await;
    let options = session
        .options_for("postgres")
        .application_name(WATCHDOG_APPLICATION);
    let mut conn: Option<PgConnection> = None;
    let mut said = false;
    loop {
        if conn.is_none() {
            match PgConnection::connect_with(&options).await {
                Ok(opened) => conn = Some(opened),
                Err(err) if !said => {
                    said = true;
                    eprintln!(
                        "persistence: {test} runs for more than {limit:?}; the lock-wait \
                         watchdog cannot connect to look why ({err})"
                    );
                }
                Err(_) => {}
            }
        }
        if let Some(open) = conn.as_mut() {
            match waits(open, test, database, limit).await {
                Ok(Some(wait)) => {
                    if let Some(open) = conn.take() {
                        return (wait, open);
                    }
                }
                Ok(None) => {}
                // Looked for again with a new session.
                Err(_) => conn = None,
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One row of [`WAITS`]: a waiting statement of the test and one session it waits for.
type Row = (
    i32,
    String,
    f64,
    i32,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

/// The sessions in the test's database (`$1`) whose statement waits on a lock, how long
/// each has waited, and each session that blocks it (whether that one is in the test's
/// database too: `datname` is NULL for a background process). When the wait began is
/// `pg_locks.waitstart` (PostgreSQL 14 and later), else the statement's start.
const WAITS: &str = "\
SELECT w.pid, w.query, \
       extract(epoch FROM clock_timestamp() - coalesce(\
           (SELECT min(l.waitstart) FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted), \
           w.query_start))::float8, \
       h.pid, h.application_name, h.state, h.query, h.datname::text, \
       h.datname IS NOT DISTINCT FROM $1 \
FROM pg_stat_activity w \
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid) \
JOIN pg_stat_activity h ON h.pid = b.pid \
WHERE w.datname = $1 AND w.wait_event_type = 'Lock' \
ORDER BY w.pid, h.pid";

/// The same, on servers before PostgreSQL 14, which have no `pg_locks.waitstart`.
const WAITS_BEFORE_14: &str = "\
SELECT w.pid, w.query, extract(epoch FROM clock_timestamp() - w.query_start)::float8, \
       h.pid, h.application_name, h.state, h.query, h.datname::text, \
       h.datname IS NOT DISTINCT FROM $1 \
FROM pg_stat_activity w \
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid) \
JOIN pg_stat_activity h ON h.pid = b.pid \
WHERE w.datname = $1 AND w.wait_event_type = 'Lock' \
ORDER BY w.pid, h.pid";

/// A statement of the test that has waited on a lock for `limit`, as a report.
async fn waits(
    conn: &mut PgConnection,
    test: &str,
    database: &str,
    limit: Duration,
) -> Result<Option<LockWait>, sqlx::Error> {
    let fetch = |sql: &'static str| sqlx::query_as::<_, Row>(sql).bind(database.to_owned());
    let rows = match fetch(WAITS).fetch_all(&mut *conn).await {
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42703") => {
            fetch(WAITS_BEFORE_14).fetch_all(&mut *conn).await?
        }
        rows => rows?,
    };
    let Some(waiter) = rows
        .iter()
        .find(|row| row.2 >= limit.as_secs_f64())
        .map(|row| row.0)
    else {
        return Ok(None);
    };
    let rows: Vec<&Row> = rows.iter().filter(|row| row.0 == waiter).collect();
    Ok(Some(LockWait {
        report: report(test, limit, &rows),
        waiter,
    }))
}

/// The report of one waiting statement (`rows`, one per session it waits for).
fn report(test: &str, limit: Duration, rows: &[&Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let (pid, query, waited) = (first.0, first.1.trim(), first.2);
    let mut text = format!(
        "a statement of the test has waited {waited:.1} s (more than \
         PERSISTENCE_TEST_LOCK_WAIT={limit:?}) on a lock:\n  waiting (session {pid}): {query}"
    );
    let mut itself = false;
    for (_, _, _, holder, app, state, held_query, held_db, own) in rows.iter().copied() {
        itself |= *own;
        let whose = if *own {
            format!("this test's own session ({test})")
        } else {
            match app.as_deref().filter(|app| !app.is_empty()) {
                Some(app) => format!("a session of `{app}`"),
                None => "a session without application_name".to_owned(),
            }
        };
        let db = held_db.as_deref().unwrap_or("?");
        let statement = held_query.as_deref().unwrap_or("").trim();
        let statement = match state.as_deref() {
            Some("active") => format!("running: {statement}"),
            Some(state) => format!("{state}, its last statement: {statement}"),
            None => format!("its statement: {statement}"),
        };
        text.push_str(&format!(
            "\n  held by session {holder}, {whose}, in database {db}, {statement}"
        ));
    }
    if itself {
        text.push_str(
            "\nthe test waits for itself: a transaction (or a connection) of the test holds the \
             lock that another connection of the same test waits for; commit or roll back the \
             first before the second touches the same rows, or run both on one connection",
        );
    } else {
        text.push_str(
            "\nthe lock is held by a session that is not the test's: end that transaction, or \
             set PERSISTENCE_TEST_LOCK_WAIT=off if the test means to wait",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_both_statements_and_whose_the_holder_is() {
        let own: Row = (
            11,
            "UPDATE orders SET email = $1 WHERE id = $2".into(),
            6.25,
            12,
            Some("harness::lock_wait::t".into()),
            Some("idle in transaction".into()),
            Some("UPDATE orders SET display_name = 'x' WHERE id = 1".into()),
            Some("clone_1".into()),
            true,
        );
        let text = report("harness::lock_wait::t", Duration::from_secs(5), &[&own]);
        assert!(text.contains("waited 6.2 s"), "{text}");
        assert!(
            text.contains("waiting (session 11): UPDATE orders SET email"),
            "{text}"
        );
        assert!(
            text.contains("held by session 12, this test's own session (harness::lock_wait::t)"),
            "{text}"
        );
        assert!(
            text.contains(
                "idle in transaction, its last statement: UPDATE orders SET display_name"
            ),
            "{text}"
        );
        assert!(text.contains("the test waits for itself"), "{text}");
        let other: Row = (
            own.0,
            own.1.clone(),
            own.2,
            13,
            Some("psql".into()),
            Some("active".into()),
            Some("LOCK orders".into()),
            Some("clone_1".into()),
            false,
        );
        let text = report("harness::lock_wait::t", Duration::from_secs(5), &[&other]);
        assert!(
            text.contains("a session of `psql`") && text.contains("running: LOCK orders"),
            "{text}"
        );
        assert!(text.contains("not the test's"), "{text}");
    }
}
