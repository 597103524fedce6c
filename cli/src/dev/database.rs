//! The development database on the server: its name checked, created unless it exists and
//! marked with the migrations it is for (`COMMENT ON DATABASE`), so that a `dev` with other
//! migrations (another member of the workspace, another project on an external server)
//! refuses it instead of failing half-way through someone else's migrations; on an external
//! server, dropped again when `dev` exits.

use persistence::postgres::{Error, quote_identifier};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use crate::error::CliError;

/// How a database's comment says which `dev` made it and for which migrations.
const MARK: &str = "persistence dev: migrations from ";

/// Database names are quoted in SQL, but one a shell, a URL and psql all take as-is is kinder.
pub(super) fn check_name(name: &str) -> Result<(), CliError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(CliError::Refused(format!(
            "`{name}` is not a usable database name for `dev`: use at most 63 letters, digits, \
             `_` or `-`, starting with a letter or `_`"
        )))
    }
}

/// Creates `database` for the migrations `origin` (a directory, or a note that there are
/// none) unless it exists; `true` if this call created it. An existing database another
/// `dev` made for other migrations is refused.
pub(super) async fn create(
    admin: &mut PgConnection,
    database: &str,
    origin: &str,
) -> Result<bool, CliError> {
    let existing: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_optional(&mut *admin)
    .await
    .map_err(Error::from)?;
    if let Some(comment) = existing {
        return check_owner(database, comment.as_deref(), origin).map(|()| false);
    }
    let quoted = quote_identifier(database);
    let created = sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .execute(&mut *admin)
        .await;
    match created {
        Ok(_) => {}
        // Another `dev` on the same server created it in the meantime.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => {
            return Ok(false);
        }
        Err(error) => return Err(Error::from(error).into()),
    }
    let comment = quote_literal(&format!("{MARK}{origin}"));
    sqlx::raw_sql(AssertSqlSafe(format!(
        "COMMENT ON DATABASE {quoted} IS {comment}"
    )))
    .execute(&mut *admin)
    .await
    .map_err(Error::from)?;
    Ok(true)
}

/// An existing database is this `dev`'s to reuse unless its mark names other migrations (one
/// without a mark was made by hand: it is reused, as before).
fn check_owner(database: &str, comment: Option<&str>, origin: &str) -> Result<(), CliError> {
    match comment.and_then(|c| c.strip_prefix(MARK)) {
        Some(theirs) if theirs != origin => Err(CliError::Refused(format!(
            "the database `{database}` on this server belongs to another `persistence dev` \
             (migrations from {theirs}; these are from {origin}): pass --database NAME to get \
             one of this project's own"
        ))),
        _ => Ok(()),
    }
}

/// Drops `database` (closing its sessions) on an external server.
pub(super) async fn drop(admin: &mut PgConnection, database: &str) -> Result<(), CliError> {
    let quoted = quote_identifier(database);
    let force = admin.server_version_num().is_some_and(|v| v >= 130_000);
    if !force {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .execute(&mut *admin)
        .await
        .map_err(Error::from)?;
    }
    let sql = if force {
        format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    } else {
        format!("DROP DATABASE IF EXISTS {quoted}")
    };
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map_err(Error::from)?;
    Ok(())
}

/// `'text'` with quotes doubled: COMMENT takes a literal, not a parameter.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["persistence_dev", "app", "_x", "my-app_2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1app", "-x", "a b", "a\"b", "é", &"x".repeat(64)] {
            let error = check_name(bad).expect_err(bad).to_string();
            assert!(error.contains("not a usable database name"), "{error}");
        }
    }

    #[test]
    fn another_projects_database_is_refused() {
        let ours = "/work/notes/migrations";
        assert!(check_owner("d", None, ours).is_ok(), "made by hand");
        assert!(check_owner("d", Some("a note of the user's"), ours).is_ok());
        assert!(check_owner("d", Some(&format!("{MARK}{ours}")), ours).is_ok());
        let error = check_owner("d", Some(&format!("{MARK}/work/tasks/migrations")), ours)
            .expect_err("another project's")
            .to_string();
        assert!(
            error.starts_with("the database `d` on this server belongs to another `persistence dev` (migrations from /work/tasks/migrations; these are from /work/notes/migrations): pass --database NAME"),
            "{error}"
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
