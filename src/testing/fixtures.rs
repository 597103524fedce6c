//! Fixtures: SQL files run before the test body, in the order the test names them.

use sqlx::PgConnection;

use super::error::HarnessError;
use super::spec::Fixture;

/// Runs every fixture on `conn`; the first failure names its file.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    fixtures: &[Fixture],
) -> Result<(), HarnessError> {
    for fixture in fixtures {
        sqlx::raw_sql(fixture.sql)
            .execute(&mut *conn)
            .await
            .map_err(|source| HarnessError::Fixture {
                path: fixture.path,
                source,
            })?;
    }
    Ok(())
}
