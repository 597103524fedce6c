//! Tokens that make generated test values unique: an e-mail address or a slug built from fake
//! data collides with another one sooner or later, the same text with a token never does.

use std::sync::atomic::Ordering;

use rand::RngExt;

use super::seed;

/// Digits of the tokens.
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Width of the random part of a token: 36^6 ≈ 2.2e9 possible values.
const NONCE_WIDTH: usize = 6;

/// A token of lowercase ASCII letters and digits that no other call in this test (or, outside
/// tests, in this process) returns, e.g. to end an e-mail address or a slug with.
///
/// In a `#[db_test]` it is the test's seeded nonce followed by the test's counter, so the
/// test's seed ([`SEED_VAR`](super::SEED_VAR)) reproduces it, and two tests get different
/// tokens with overwhelming probability. Outside tests it is a random per-process nonce and a
/// process-wide counter.
///
/// ```
/// let (a, b) = (persistence::testing::unique_token(), persistence::testing::unique_token());
/// assert_ne!(a, b);
/// assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
/// let email = format!("ada.{a}@example.org");
/// # let _ = email;
/// ```
pub fn unique_token() -> String {
    // Outside tests: a nonce drawn once per process, and a process-wide counter.
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (nonce, count) = seed::unique_parts().unwrap_or_else(|| {
        let nonce = *NONCE.get_or_init(|| seed::with_rng(|rng| rng.random()));
        (nonce, COUNTER.fetch_add(1, Ordering::Relaxed))
    });
    format!("{}{}", nonce_digits(nonce), base36(count))
}

/// The nonce as [`NONCE_WIDTH`] base-36 digits (it is taken modulo 36^6, zero-padded).
fn nonce_digits(nonce: u64) -> String {
    let mut n = nonce % 36u64.pow(NONCE_WIDTH as u32);
    let mut digits = [b'0'; NONCE_WIDTH];
    for digit in digits.iter_mut().rev() {
        *digit = BASE36[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// `n` in base 36, lowercase.
fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(BASE36[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_are_unique_and_lowercase_alphanumeric() {
        let tokens: Vec<String> = (0..10_000).map(|_| unique_token()).collect();
        let distinct: HashSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        for token in &tokens {
            assert!(token.len() > NONCE_WIDTH, "{token}");
            assert!(token.bytes().all(|b| BASE36.contains(&b)), "{token}");
        }
    }

    #[test]
    fn nonces_have_their_width() {
        assert_eq!(nonce_digits(0), "000000");
        assert_eq!(nonce_digits(35), "00000z");
        assert_eq!(nonce_digits(36u64.pow(6) - 1), "zzzzzz");
        assert_eq!(nonce_digits(36u64.pow(6)), "000000");
        let widest = nonce_digits(u64::MAX);
        assert_eq!(widest.len(), NONCE_WIDTH);
        assert!(widest.bytes().all(|b| BASE36.contains(&b)), "{widest}");
    }

    #[tokio::test]
    async fn a_tests_tokens_follow_its_seed() {
        let take = || async { Ok::<_, ()>((unique_token(), unique_token())) };
        let a = seed::seeded("t", take()).await.expect("taken");
        let again = seed::seeded("t", take()).await.expect("taken");
        let other = seed::seeded("u", take()).await.expect("taken");
        assert_eq!(a, again);
        assert_ne!(a.0, a.1);
        // The same counter, another nonce (equal with probability 36^-6).
        assert_ne!(a.0, other.0);
        assert_eq!(a.0[NONCE_WIDTH..], other.0[NONCE_WIDTH..]);
    }

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(36 * 36 + 1), "101");
    }
}
