//! Lets any test binary built with the harness act as the server supervisor.
//!
//! The first test process that needs a server re-runs its own executable with
//! `PERSISTENCE_SUPERVISOR` set (see [`crate::ephemeral::supervisor`]); this constructor,
//! linked into every binary that uses the harness, turns that copy into the supervisor
//! before libtest's `main` starts. Any other process returns from it at once. Beside its
//! server, such a supervisor runs the harness's [janitor](super::pool::janitor).

#[ctor::ctor(unsafe)]
fn persistence_supervisor_hook() {
    super::timings::process_started();
    crate::ephemeral::supervisor::run_with(Some(super::pool::janitor::run));
}
