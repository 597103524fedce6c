//! The tokio runtimes tests run on.
//!
//! By default every `#[db_test]` of a process runs on one multi-thread runtime, through
//! `block_on` from its own libtest thread. Pools are bound to the runtime that created them,
//! so sharing the runtime is what lets the tests of one process share warm connections:
//! with a runtime per test (as `#[tokio::test]` builds), each test would pay for a new
//! connection and for its cold caches.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

use super::context::harness;
use super::spec::RuntimeFlavor;

/// Runs `future` to completion on the runtime `flavor` asks for.
pub(crate) fn block_on<F: Future>(flavor: RuntimeFlavor, future: F) -> F::Output {
    match flavor {
        RuntimeFlavor::Shared => shared().block_on(future),
        RuntimeFlavor::CurrentThread => dedicated(Builder::new_current_thread()).block_on(future),
        RuntimeFlavor::MultiThread { worker_threads } => {
            let mut builder = Builder::new_multi_thread();
            if let Some(n) = worker_threads {
                builder.worker_threads(n);
            }
            dedicated(builder).block_on(future)
        }
    }
}

fn shared() -> &'static Runtime {
    harness().runtime.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("persistence-test")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("persistence: cannot build the test runtime: {e}"))
    })
}

fn dedicated(mut builder: Builder) -> Runtime {
    builder
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("persistence: cannot build the test runtime: {e}"))
}
