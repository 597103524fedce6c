//! Every fixture form of `#[sqlx::test]`; the files are in `pass/fixtures/`.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use sqlx::{PgConnection, PgPool};

#[db_test(fixtures("users", "sites"))]
async fn bare_names(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures("users.sql"))]
async fn bare_name_with_extension(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures("fixtures/users.sql", "../pass/fixtures/sites.sql"))]
async fn explicit_paths(conn: &mut PgConnection) {
    let _ = conn;
}

#[db_test(fixtures(path = "fixtures", scripts("users", "sites.sql")))]
async fn path_and_scripts(pool: PgPool) {
    let _ = pool;
}

#[db_test(fixtures("users"), isolation = "database", fixtures(path = "../pass/fixtures", scripts("sites")))]
async fn several_lists(pool: PgPool) {
    let _ = pool;
}

fn main() {}
