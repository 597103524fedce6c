//! Session advisory locks named by text (hashed on the server), by which a session owns a
//! template while it is built, or a test database while its test runs. PostgreSQL drops them
//! when the session ends, however its process ends.

use sqlx::PgConnection;

/// Waits for and takes the lock `name`.
pub(crate) async fn lock(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(conn)
        .await
        .map(drop)
}

/// Takes the lock `name` if nobody holds it; `true` when taken.
pub(crate) async fn try_lock(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(name)
        .fetch_one(conn)
        .await
}

/// Releases the lock `name`.
pub(crate) async fn unlock(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(name)
        .execute(conn)
        .await
        .map(drop)
}
