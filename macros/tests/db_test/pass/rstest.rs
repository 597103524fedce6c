//! rstest: `#[db_test]` above `#[rstest]`, or `#[test_attr(db_test)]` below it.

// trybuild builds these files without `--test`, which removes the generated `#[test]`
// functions and leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;
use rstest::rstest;
use sqlx::{PgConnection, PgPool};

#[db_test(fixtures("users"))]
#[rstest]
#[case::one(1)]
#[case::two(2)]
async fn cases(#[case] n: i64, conn: &mut PgConnection) {
    let _ = (n, conn);
}

#[db_test]
#[rstest]
async fn values(#[values("a", "b")] name: &str, pool: PgPool) -> anyhow::Result<()> {
    let _ = (name, pool);
    Ok(())
}

#[rstest]
#[case(1)]
#[test_attr(db_test(isolation = "transaction"))]
async fn by_hand(#[case] n: i64, #[ignore] conn: &mut PgConnection) {
    let _ = (n, conn);
}

fn main() {}
