//! Compile-time behaviour of `#[db_test]`: accepted forms expand without errors, and every
//! rejected form fails with the message in its `.stderr` snapshot.
//!
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p persistence-pg-macros --test ui`,
//! then read every changed `.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/db_test/pass/*.rs");
    cases.compile_fail("tests/db_test/fail/*.rs");
}
