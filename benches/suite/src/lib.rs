//! Generated tests for the overhead benchmark (`benches/overhead.rs`) live in `tests/`: one
//! file per approach and migration set, each with [`TESTS`] tests stamped out by [`hundred!`].
//!
//! Every test does the same trivial work, so the difference between two files' run times is
//! what their harness costs. The suite is not a default member of the workspace: it runs
//! only through `cargo bench --bench overhead`.

/// How many tests every file of `tests/` holds.
pub const TESTS: usize = 100;

/// Stamps out 100 tests: `hundred!(one)` calls the file's own `one!(tNN)` macro in modules
/// `m0` .. `m9`, ten times each (`m3::t7`, ...), since `macro_rules!` cannot build names.
#[macro_export]
macro_rules! hundred {
    ($one:ident) => {
        $crate::hundred!(@tens $one; m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
    };
    (@tens $one:ident; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                $one!(t0);
                $one!(t1);
                $one!(t2);
                $one!(t3);
                $one!(t4);
                $one!(t5);
                $one!(t6);
                $one!(t7);
                $one!(t8);
                $one!(t9);
            }
        )*
    };
}

/// The trivial query every database test runs: one row into `users`, which both migration
/// sets create. `email` must be unique per test: `users` has a unique index on it, and two
/// transaction-mode tests inserting the same value would wait on each other.
pub async fn insert_user<'e>(db: impl sqlx::PgExecutor<'e>, email: &str) -> i64 {
    sqlx::query_scalar("INSERT INTO users (email, display_name) VALUES ($1, 'Bench') RETURNING id")
        .bind(email)
        .fetch_one(db)
        .await
        .expect("insert into users")
}

/// The trivial work of a test without a database.
pub fn trivial(n: u64) -> u64 {
    (1..=n).sum()
}
