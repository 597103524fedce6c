//! Under `cargo nextest run`, which runs every test in a process of its own, the whole run
//! shares one PostgreSQL server.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn one_server_for_a_whole_nextest_run() {
    let state_dir =
        std::env::temp_dir().join(format!("persistence-nextest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["nextest", "run", "--no-fail-fast", "--color", "never"])
        // The same packages as the outer run (no target selection), so cargo finds every
        // binary fresh instead of building another feature set; a filter picks the tests.
        .args(["-E", "binary(transaction_rollback) | binary(database_isolation) | binary(fixtures_and_migrations) | binary(rstest_cases)"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PERSISTENCE_STATE_DIR", &state_dir)
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env("PERSISTENCE_TEST_IDLE_GRACE", "1")
        .output()
        .expect("cargo nextest (install it with `cargo install cargo-nextest`)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "nextest run failed:\n{text}");
    let passed: usize = text
        .lines()
        .filter_map(|l| {
            l.split_once(" tests run: ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .next()
        .unwrap_or(0);
    assert!(
        passed >= 20,
        "expected the run to have at least 20 tests:\n{text}"
    );
    let starts = std::fs::read_to_string(state_dir.join("starts.log")).unwrap_or_default();
    assert_eq!(
        starts.lines().count(),
        1,
        "servers started by one nextest run:\n{starts}"
    );

    // After the run, once the idle grace has passed, the server and its data are gone.
    let instance_dir = starts
        .split_whitespace()
        .nth(2)
        .expect("instance dir in starts.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(instance_dir).exists() {
        assert!(Instant::now() < deadline, "{instance_dir} outlived the run");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!state_dir.join("server.json").exists());
    let _ = std::fs::remove_dir_all(&state_dir);
}
