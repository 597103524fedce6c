//! Where the harness's own connections live in this process: on the driver runtime, kept
//! between tests (`cargo test`), or on the one test's runtime (nextest's process per test).
//! Decided once per process; the runtimes ([`super::run::runtime`]), the clone pools and the
//! session all ask it, so it sits below them.

use std::sync::OnceLock;

/// Where the harness's own connections live in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Home {
    /// On the driver runtime, kept between the tests of the process.
    Driver,
    /// On the runtime of the one test this process runs (nextest's process-per-test mode):
    /// nothing is kept.
    TestRuntime,
}

/// Where the harness's connections live in this process, decided once.
pub(crate) fn home() -> Home {
    static HOME: OnceLock<Home> = OnceLock::new();
    *HOME.get_or_init(|| {
        if crate::ephemeral::Settings::get().is_ok_and(|s| s.one_test_per_process) {
            Home::TestRuntime
        } else {
            Home::Driver
        }
    })
}
