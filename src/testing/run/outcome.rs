//! What a test body may return: `()` or `Result<_, E: Debug>`, as libtest accepts.

/// A test's return value, asked whether it reports a failure.
pub trait TestOutcome {
    /// `true` when the test failed by returning an error.
    fn is_failure(&self) -> bool;
}

impl TestOutcome for () {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E: std::fmt::Debug> TestOutcome for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}
