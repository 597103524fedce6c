//! Transaction mode: `&mut PgConnection`, however the type is spelled, with any return type.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
async fn unit(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test]
async fn result(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}

#[db_test(isolation = "transaction")]
async fn anyhow_result(conn: &mut ::sqlx::postgres::PgConnection) -> anyhow::Result<()> {
    let _ = conn;
    Ok(())
}

#[db_test]
async fn mutable_pattern(mut conn: &mut PgConnection) -> () {
    let _ = &mut conn;
}

fn main() {}
