//! The names of every database the harness creates, in one place: sweeps and prunes find
//! them by these prefixes, so nothing else spells them.
//!
//! | name | what |
//! |---|---|
//! | `persistence_tpl_<key>` | the migrated template of one schema (`IS_TEMPLATE`) |
//! | `persistence_tx_<key>_<n>` | clone `n` of the template, leased by transaction-mode tests |
//! | `persistence_db_<key>_<n>` | clone `n` of the template, leased by database-mode tests |
//! | `persistence_t_<key>_<random>` | a database of one test, dropped after it (external servers) |
//! | `persistence_keep_<key>_<test>_<time>` | a failed test's database kept for inspection (see `run::kept`) |
//!
//! `<key>` is 16 hex digits that identify the schema (see [`super::template`]).

/// Templates.
pub(crate) const TEMPLATE_PREFIX: &str = "persistence_tpl_";
/// Clones leased by transaction-mode tests.
pub(crate) const TX_CLONE_PREFIX: &str = "persistence_tx_";
/// Clones leased by database-mode tests.
pub(crate) const DB_CLONE_PREFIX: &str = "persistence_db_";
/// Databases created for one test and dropped after it.
pub(crate) const TEST_DB_PREFIX: &str = "persistence_t_";
/// Databases kept after a failed test (`PERSISTENCE_TEST_KEEP`).
pub(crate) const KEEP_PREFIX: &str = crate::ephemeral::kept::PREFIX;

/// The template of the schema `key`.
pub(crate) fn template_name(key: &str) -> String {
    format!("{TEMPLATE_PREFIX}{key}")
}

/// A new name for a database of one test, cloned from the template of `key`.
pub(crate) fn test_database_name(key: &str) -> String {
    format!("{TEST_DB_PREFIX}{key}_{:08x}", rand::random::<u32>())
}

/// The template key and the number of `name`, if it is a clone whose names start with
/// `prefix` ([`TX_CLONE_PREFIX`] or [`DB_CLONE_PREFIX`]).
pub(crate) fn parse_clone<'a>(prefix: &str, name: &'a str) -> Option<(&'a str, u32)> {
    let (key, n) = name.strip_prefix(prefix)?.rsplit_once('_')?;
    Some((key, n.parse().ok()?))
}

/// A `LIKE` pattern matching every clone whose names start with `prefix` of the template
/// `key`.
pub(crate) fn like_clones_of(prefix: &str, key: &str) -> String {
    like_prefix(&format!("{prefix}{key}_"))
}

/// A `LIKE` pattern matching every name that starts with `prefix` (escaping its `_`).
pub(crate) fn like_prefix(prefix: &str) -> String {
    format!("{}%", prefix.replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgres_identifiers_and_keep_their_prefixes() {
        let key = "0123456789abcdef";
        let db = format!("{DB_CLONE_PREFIX}{key}_4000000");
        assert!(db.starts_with(DB_CLONE_PREFIX) && db.len() < 63);
        assert_eq!(like_prefix(TX_CLONE_PREFIX), "persistence\\_tx\\_%");
        assert_eq!(parse_clone(DB_CLONE_PREFIX, &db), Some((key, 4_000_000)));
        assert_eq!(parse_clone(TX_CLONE_PREFIX, &db), None);
        assert_eq!(
            like_clones_of(DB_CLONE_PREFIX, key),
            "persistence\\_db\\_0123456789abcdef\\_%"
        );
        assert!(template_name(key).starts_with(TEMPLATE_PREFIX));
        assert!(test_database_name(key).len() < 63);
    }
}
