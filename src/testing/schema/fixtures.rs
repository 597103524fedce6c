//! Fixtures: SQL files run before the test body, in the order the test names them.

use futures_util::StreamExt;
use sqlx::PgConnection;

use crate::testing::error::{HarnessError, describe, locate};

/// One SQL fixture, embedded at compile time and run before the test body.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// The path it was read from, relative to the crate, for error messages.
    pub path: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

impl Fixture {
    /// A fixture named by `path` whose SQL is `sql`.
    pub const fn new(path: &'static str, sql: &'static str) -> Self {
        Self { path, sql }
    }
}

/// Runs every fixture on `conn`; the first failure names its file, and the statement and
/// line in it.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    fixtures: &[Fixture],
) -> Result<(), HarnessError> {
    for fixture in fixtures {
        // Sent whole, as one simple query; each statement that completes yields a result, so
        // their count says which one failed when PostgreSQL gives no position.
        let mut completed = 0;
        let mut results = sqlx::raw_sql(fixture.sql).execute_many(&mut *conn);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => completed += 1,
                Err(source) => {
                    return Err(HarnessError::Fixture {
                        path: fixture.path,
                        location: locate(fixture.sql, &source, Some(completed)),
                        detail: describe(&source),
                        source,
                    });
                }
            }
        }
    }
    Ok(())
}
