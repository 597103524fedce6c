//! The runtimes a test and the harness run on.
//!
//! A test body runs on a runtime of its own, built for it and dropped when it ends, as
//! `#[tokio::test]` and `#[sqlx::test]` do: a current-thread runtime by default (the body
//! and the tasks it spawns share the test's thread, so thread-locals and `LocalSet` behave
//! as there), or the multi-thread runtime `flavor = "multi_thread"` asks for. Whatever the
//! test spawned ends with it.
//!
//! The harness's own connections (to clones, to the maintenance database) are what make a
//! test cheap, so under `cargo test`, where a process runs many tests, they must outlive
//! each test's runtime. A connection belongs to the runtime whose I/O driver registered its
//! socket, and any runtime may poll it while that driver runs. So the harness opens its
//! connections on a runtime of its own, the *driver* (one worker thread, built once per
//! process), and a test body uses them from its runtime: the test sees a warm connection,
//! and cannot tell where its socket is registered.
//!
//! Under `cargo nextest run` a process runs one test and ends: nothing is kept, so the
//! harness works on the test's runtime and no driver is built (a thread and cross-thread
//! wake-ups saved on the critical path of every test).

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use super::spec::RuntimeFlavor;
use crate::testing::home::{Home, home};

/// The runtime that owns the harness's connections under [`Home::Driver`].
fn driver() -> &'static Runtime {
    static DRIVER: OnceLock<Runtime> = OnceLock::new();
    DRIVER.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("persistence-driver")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("persistence: cannot build the harness's runtime: {e}"))
    })
}

/// The runtime of one test.
pub(crate) struct TestRuntime {
    runtime: Runtime,
}

impl TestRuntime {
    /// The runtime `flavor` asks for, built for one test.
    pub(crate) fn new(flavor: RuntimeFlavor) -> Self {
        let mut builder = match flavor {
            RuntimeFlavor::CurrentThread => Builder::new_current_thread(),
            RuntimeFlavor::MultiThread { worker_threads } => {
                let mut builder = Builder::new_multi_thread();
                if let Some(n) = worker_threads {
                    builder.worker_threads(n);
                }
                builder
            }
        };
        let runtime = builder
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("persistence: cannot build the test's runtime: {e}"));
        Self { runtime }
    }

    /// Runs `future` (the test's own code) to completion on the test's runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs `future` (the harness's work) where the harness's connections live: on the
    /// driver, or on the test's runtime when nothing outlives the test.
    pub(crate) fn harness<F: Future>(&self, future: F) -> F::Output {
        match home() {
            Home::Driver => driver().block_on(future),
            Home::TestRuntime => self.runtime.block_on(future),
        }
    }

    /// Ends the test's runtime, and with it every task the test spawned. Returns what is
    /// needed to run the harness's remaining work.
    pub(crate) fn end(self) -> AfterTest {
        drop(self.runtime);
        AfterTest
    }
}

/// The harness's work after a test's runtime has ended.
pub(crate) struct AfterTest;

impl AfterTest {
    /// Runs `future` (the harness's work) where the harness's connections live; with no
    /// driver, on a small runtime of its own (the test's is gone with its connections).
    pub(crate) fn harness<F: Future>(&self, future: F) -> F::Output {
        match home() {
            Home::Driver => driver().block_on(future),
            Home::TestRuntime => Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("persistence: cannot build the harness's runtime: {e}"))
                .block_on(future),
        }
    }
}

/// Runs `future`, the harness's work started from async code (a fixture calling
/// [`TestDb::create`](crate::testing::TestDb::create)), where the harness's connections
/// live, and waits for it from the caller's runtime.
pub(crate) async fn on_harness<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match home() {
        Home::Driver => match driver().spawn(future).await {
            Ok(output) => output,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        },
        Home::TestRuntime => future.await,
    }
}
