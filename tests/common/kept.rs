//! The kept database of a failed test (`PERSISTENCE_TEST_KEEP=failed`).

/// The URL a failed test's output gives for its kept database (`PERSISTENCE_TEST_KEEP=failed`).
pub fn kept_url(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.split_once("kept the database of this failed test: ")?
                .1
                .split_whitespace()
                .next()
        })
        .unwrap_or_else(|| panic!("no URL printed: {text}"))
        .to_owned()
}
