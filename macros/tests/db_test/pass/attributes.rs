//! Attributes below `#[db_test]` are kept on the generated test.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use sqlx::PgConnection;

/// Documented.
#[db_test]
#[should_panic(expected = "boom")]
async fn should_panic(conn: &mut PgConnection) {
    let _ = conn;
    panic!("boom");
}

#[db_test]
#[ignore = "slow"]
#[allow(clippy::needless_return)]
async fn ignored(conn: &mut PgConnection) {
    let _ = conn;
    return;
}

#[db_test]
#[cfg(any())]
async fn compiled_out(conn: &mut PgConnection) {
    let _ = conn;
}

pub mod nested {
    use super::*;

    #[db_test]
    pub async fn public(conn: &mut PgConnection) {
        let _ = conn;
    }
}

fn main() {}
