//! How long each step of a test took, recorded when `PERSISTENCE_TEST_TIMINGS` names a file
//! (`benches/breakdown.rs` sets it and reads the file).
//!
//! A test's entry point marks the end of each step ([`mark`]) on the test's thread, which is
//! where the harness's work for that test runs (its own runtime's `block_on`, or the driver's
//! from that thread); when the test ends, [`finish`] appends one JSON line with the steps'
//! durations to the file. The first test of a process also gets the time from the process's
//! start (the harness's constructor, before libtest's `main`) to its entry. Unset, a mark
//! costs a clock read and a check of a flag.
//!
//! One `write` per line on a file opened for appending: the processes of a nextest run write
//! to the same file without interleaving.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::ephemeral::Settings;

/// When the process started, as near as the harness can tell: its constructor ran.
static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Whether a test of this process has taken the time since the process's start already.
static FIRST_TAKEN: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The steps of the test running on this thread: (step, when it ended).
    static MARKS: RefCell<Vec<(&'static str, Instant)>> = const { RefCell::new(Vec::new()) };
}

/// Called by the harness's constructor, before libtest's `main`.
pub(crate) fn process_started() {
    let _ = PROCESS_START.set(Instant::now());
}

/// Whether timings are recorded in this process.
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| Settings::get().is_ok_and(|s| s.timings.is_some()))
}

/// The step `step` of the test on this thread ends now. The clock is read before anything
/// else, so that reading the settings on the first call counts in the next step.
pub(crate) fn mark(step: &'static str) {
    let now = Instant::now();
    if enabled() {
        MARKS.with_borrow_mut(|marks| marks.push((step, now)));
    }
}

/// The test `test` (run in `mode`) has ended: appends its steps to the timings file.
/// Nothing is said when the file cannot be written: timings are for benchmarks, and a test
/// does not fail for them (the benchmark reports a missing line).
pub(crate) fn finish(test: &str, mode: &str) {
    if !enabled() {
        return;
    }
    let marks = MARKS.with_borrow_mut(std::mem::take);
    let Some(path) = Settings::get().ok().and_then(|s| s.timings.as_deref()) else {
        return;
    };
    let Some(&(_, entry)) = marks.first() else {
        return;
    };
    let mut steps = Vec::with_capacity(marks.len() + 1);
    if let Some(start) = PROCESS_START.get()
        && !FIRST_TAKEN.swap(true, Ordering::Relaxed)
    {
        steps.push(serde_json::json!([
            "process start to test entry",
            micros(*start, entry)
        ]));
    }
    for pair in marks.windows(2) {
        let ((_, from), (step, to)) = (pair[0], pair[1]);
        steps.push(serde_json::json!([step, micros(from, to)]));
    }
    let line = serde_json::json!({
        "test": test,
        "mode": mode,
        "pid": std::process::id(),
        "one_test_per_process": Settings::get().is_ok_and(|s| s.one_test_per_process),
        "steps": steps,
    });
    let mut text = line.to_string();
    text.push('\n');
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(text.as_bytes());
    }
}

fn micros(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}
