//! The statements the harness sends about whole databases (create, drop, list) and what
//! PostgreSQL's answers to them mean: one home, so that each is written once. The names it
//! is given are the harness's own ([`super::schema::names`]: `persistence_*` and hex digits), which
//! is why they are spliced in unquoted.

pub(crate) mod locks;
pub(crate) mod protocol;
pub(crate) mod text;

use std::borrow::Cow;

use sqlx::{AssertSqlSafe, PgConnection};

use super::error::HarnessError;
use crate::ephemeral::Server;

/// The next transaction id: a row written from now on carries one at or above it (the
/// *watermark* of a clean clone, see [`crate::testing::pool::reset`]).
pub(crate) const WATERMARK_SQL: &str = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::int8";

/// The `application_name` of the relay's idle sessions ([`crate::testing::pool::relay`], on
/// Unix), by which the harness tells them from a test's. Here, below the pools and the
/// runs, because the relay names its sessions with it and a run looks for them.
pub(crate) const RELAY_APPLICATION: &str = "persistence relay";

/// "database does not exist".
const MISSING_DATABASE: &str = "3D000";
/// "database already exists".
const DUPLICATE_DATABASE: &str = "42P04";
/// `invalid_authorization_specification`: among others, a login role that does not exist.
const INVALID_AUTHORIZATION: &str = "28000";
/// `invalid_password`: a failed password authentication, or (over scram) a role that does
/// not exist.
const INVALID_PASSWORD: &str = "28P01";
/// "current transaction is aborted": an earlier statement of the transaction failed.
const IN_FAILED_TRANSACTION: &str = "25P02";
/// The class of "insufficient resources" (connections, disk, memory).
const INSUFFICIENT_RESOURCES_CLASS: &str = "53";

/// Runs a statement the harness built itself.
pub(crate) async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), HarnessError> {
    let action = sql.clone();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
        .map_err(HarnessError::sql(action))
}

/// `CREATE DATABASE name TEMPLATE template`, the fast way the server allows.
pub(crate) fn create_from_template(server: &Server, name: &str, template: &str) -> String {
    format!(
        "CREATE DATABASE {name} TEMPLATE {template}{}",
        clone_clause(server)
    )
}

/// `STRATEGY FILE_COPY` (PostgreSQL 15+) copies files instead of WAL-logging every block:
/// the fast way for small databases.
fn clone_clause(server: &Server) -> &'static str {
    let major = server
        .version()
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    match major {
        Some(major) if major >= 15 => " STRATEGY FILE_COPY",
        _ => "",
    }
}

/// Drops the database `name` if it exists, ending the sessions connected to it.
pub(crate) async fn drop_database(conn: &mut PgConnection, name: &str) -> Result<(), HarnessError> {
    execute(conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}

/// The databases whose names match the `LIKE` pattern (see [`super::schema::names::like_prefix`]);
/// none when the query fails, since every caller only cleans up.
pub(crate) async fn databases_like(conn: &mut PgConnection, pattern: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(pattern)
        .fetch_all(conn)
        .await
        .unwrap_or_default()
}

/// Whether the database `name` is marked `IS_TEMPLATE`; `None` when there is no such
/// database.
pub(crate) async fn template_mark(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<bool>, HarnessError> {
    sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(HarnessError::sql("looking for the template"))
}

fn sqlstate(err: &sqlx::Error) -> Option<Cow<'_, str>> {
    err.as_database_error().and_then(|e| e.code())
}

/// Whether `err` is PostgreSQL's "database does not exist".
pub(crate) fn is_missing_database(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| code == MISSING_DATABASE)
}

/// Whether `err` is PostgreSQL's refusal of the login role: "role does not exist" (`28000`,
/// which has no finer code), or, over TCP with a password, "password authentication failed"
/// (`28P01`), which is also what a role that does not exist gets there.
pub(crate) fn is_refused_role(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| code == INVALID_AUTHORIZATION || code == INVALID_PASSWORD)
}

/// Whether `err` is PostgreSQL's "database already exists".
pub(crate) fn is_duplicate_database(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| code == DUPLICATE_DATABASE)
}

/// Whether `err` came from a transaction that an earlier error aborted.
pub(crate) fn is_in_failed_transaction(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| code == IN_FAILED_TRANSACTION)
}

/// Whether `err` says the server has no room now (connections, disk, memory).
pub(crate) fn is_insufficient_resources(err: &sqlx::Error) -> bool {
    sqlstate(err).is_some_and(|code| code.starts_with(INSUFFICIENT_RESOURCES_CLASS))
}
