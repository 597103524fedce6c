//! Reproducible fake data: every `#[db_test]` draws from a random generator seeded from the
//! run's seed and the test's name.
//!
//! The run seed is `PERSISTENCE_TEST_SEED` when set (read once, with every other setting, by
//! [`Settings`](crate::ephemeral::Settings)), else drawn at random once per process.
//! A test that fails after drawing fake values prints the run seed; running it again with
//! `PERSISTENCE_TEST_SEED=<seed>` gives it the same generator, hence the same values (with
//! the same version of this crate and of the crates that draw from it, such as `fake`).
//!
//! The generator lives in a Tokio task-local value around the test's body: it covers what
//! the body awaits. Spawned tasks (even with
//! [`spawn_scoped`](crate::postgres::spawn_scoped)) and `spawn_blocking` closures do not
//! share it, because a generator shared between tasks would hand out values in an order that
//! depends on scheduling: they draw from an unseeded generator, as code outside tests does.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};

use futures_util::FutureExt;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::run::outcome::TestOutcome;

/// The variable that fixes the run seed.
pub const SEED_VAR: &str = "PERSISTENCE_TEST_SEED";

/// `PERSISTENCE_TEST_SEED` holds something other than a seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{SEED_VAR}=`{value}` is not a seed: use the unsigned integer a failing test printed, or \
     unset {SEED_VAR} to draw a new one"
)]
pub struct SeedError {
    /// The value found in the environment.
    pub value: String,
}

/// The random state of one test.
struct TestRandom {
    run_seed: u64,
    rng: StdRng,
    /// Set once the test draws a value: only then is its seed worth printing.
    used: bool,
    /// Drawn first, before the body: see [`unique_parts`].
    nonce: u64,
    /// How many times [`unique_parts`] was asked.
    counter: u64,
}

tokio::task_local! {
    static RANDOM: RefCell<TestRandom>;
}

thread_local! {
    static UNSEEDED: RefCell<StdRng> = RefCell::new(StdRng::from_rng(&mut rand::rng()));
}

/// The seed of this run: [`SEED_VAR`] when set, else a random one drawn once per process.
pub fn run_seed() -> Result<u64, SeedError> {
    // Read once with every other setting; a bad value of another one is reported where
    // the server is resolved, and leaves the seed to be drawn.
    let set = crate::ephemeral::Settings::get()
        .ok()
        .and_then(|settings| settings.seed.as_ref());
    match set {
        Some(value) => value.trim().parse().map_err(|_| SeedError {
            value: value.clone(),
        }),
        None => {
            // Drawn once, so that every test of the process derives its seed from it.
            static RUN_SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
            Ok(*RUN_SEED.get_or_init(|| rand::rng().random()))
        }
    }
}

/// The seed of the test named `test` in a run seeded with `run_seed`: a stable hash
/// (FNV-1a), so it is the same on every platform and in every process.
pub fn test_seed(run_seed: u64, test: &str) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in run_seed.to_le_bytes().iter().chain(test.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The run seed of the test running in this task, if any.
pub fn current_seed() -> Option<u64> {
    RANDOM.try_with(|random| random.borrow().run_seed).ok()
}

/// Runs `f` with the test's seeded generator (or an unseeded one outside a test), e.g. to
/// draw random values of your own that a seed reproduces:
///
/// ```
/// use rand::RngExt;
///
/// let roll: u8 = persistence::testing::with_rng(|rng| rng.random_range(1..=6));
/// assert!((1..=6).contains(&roll));
/// ```
///
/// The generator is [`rand`]'s `StdRng`, so crates built on `rand` 0.10 draw from it too:
/// with `fake`, `with_rng(|rng| Name().fake_with_rng(rng))`. `f` must not call `with_rng`
/// itself (nor [`unique_token`](super::unique_token), nor code that does, such as a test data
/// factory).
pub fn with_rng<T>(f: impl FnOnce(&mut StdRng) -> T) -> T {
    if RANDOM.try_with(|_| ()).is_ok() {
        RANDOM.with(|random| {
            let mut random = random.borrow_mut();
            random.used = true;
            f(&mut random.rng)
        })
    } else {
        UNSEEDED.with(|rng| f(&mut rng.borrow_mut()))
    }
}

/// Inside a test: the test's nonce and the next value of its counter, what
/// [`unique_token`](super::unique_token) is made of; `None` outside. The nonce is drawn from
/// the test's generator before its body runs, so taking tokens shifts none of the values the
/// body draws.
pub(crate) fn unique_parts() -> Option<(u64, u64)> {
    RANDOM
        .try_with(|random| {
            let mut random = random.borrow_mut();
            random.used = true;
            let count = random.counter;
            random.counter += 1;
            (random.nonce, count)
        })
        .ok()
}

/// Runs the body of the test `test` with its seeded generator; when it fails (an error or a
/// panic) after drawing fake values, prints the seed that reproduces them.
pub(crate) async fn seeded<R, F>(test: &str, body: F) -> R
where
    R: TestOutcome,
    F: Future<Output = R>,
{
    let run_seed = run_seed().unwrap_or_else(|e| panic!("persistence: {test}: {e}"));
    let mut rng = StdRng::seed_from_u64(test_seed(run_seed, test));
    let nonce = rng.random();
    let random = RefCell::new(TestRandom {
        run_seed,
        rng,
        used: false,
        nonce,
        counter: 0,
    });
    // Boxed: on the test thread's stack, every wrapper would hold another copy of the body.
    let body = Box::pin(body);
    let (outcome, used) = RANDOM
        .scope(random, async {
            let outcome = AssertUnwindSafe(body).catch_unwind().await;
            (outcome, RANDOM.with(|r| r.borrow().used))
        })
        .await;
    let failed = !matches!(&outcome, Ok(result) if !result.is_failure());
    if failed && used {
        // On the test's own thread: libtest shows it with the failure's output.
        eprintln!(
            "persistence: {test} failed; its fake data came from {SEED_VAR}={run_seed} (run \
             again with it set to get the same values)"
        );
    }
    match outcome {
        Ok(result) => result,
        Err(panic) => resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_seeds_are_stable_and_depend_on_both_inputs() {
        // A fixed value: seeds printed by one build must mean the same in the next.
        assert_eq!(test_seed(0, ""), 0xa8c7_f832_281a_39c5);
        assert_eq!(test_seed(42, "a::b"), test_seed(42, "a::b"));
        assert_ne!(test_seed(42, "a::b"), test_seed(43, "a::b"));
        assert_ne!(test_seed(42, "a::b"), test_seed(42, "a::c"));
    }

    #[tokio::test]
    async fn a_test_scope_reproduces_its_draws_and_counts_its_tokens() {
        let draw = || async {
            let values: Vec<u64> = (0..3).map(|_| with_rng(|rng| rng.random())).collect();
            let tokens = (unique_parts(), unique_parts());
            Ok::<_, ()>((values, tokens, current_seed()))
        };
        let a = seeded("t", draw()).await;
        let b = seeded("t", draw()).await;
        let other = seeded("u", draw()).await;
        assert_eq!(a, b);
        let (values, (first, second), seed) = a.expect("drawn");
        assert_ne!(values, other.expect("drawn").0);
        let (first, second) = (first.expect("in a test"), second.expect("in a test"));
        assert_eq!(first.0, second.0);
        assert_eq!(first.1 + 1, second.1);
        assert_eq!(
            seed,
            Some(run_seed().expect("no bad seed in the environment"))
        );
        assert!(unique_parts().is_none() && current_seed().is_none());
    }
}
