//! The names of every database the harness creates, in one place: sweeps and prunes find
//! them by these prefixes, so nothing else spells them.
//!
//! | name | what |
//! |---|---|
//! | `persistence_tpl_<key>` | the migrated template of one schema (`IS_TEMPLATE`) |
//! | `persistence_tx_<key>_<n>` | clone `n` of the template, leased by transaction-mode tests |
//! | `persistence_db_<key>_<n>` | clone `n` of the template, leased by database-mode tests |
//! | `persistence_t_<key>_<random>` | a database of one test, dropped after it (external servers) |
//! | `persistence_keep_...` | a failed test's database kept for inspection |
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
/// Databases kept after a failed test (`PERSISTENCE_TEST_KEEP=failed`).
pub(crate) const KEEP_PREFIX: &str = crate::ephemeral::kept::PREFIX;

/// What a lease file's name adds to its clone's name (see [`super::leases`]).
pub(crate) const LEASE_SUFFIX: &str = ".lock";

/// The template of the schema `key`.
pub(crate) fn template_name(key: &str) -> String {
    format!("{TEMPLATE_PREFIX}{key}")
}

/// A new name for a database of one test, cloned from the template of `key`.
pub(crate) fn test_database_name(key: &str) -> String {
    format!("{TEST_DB_PREFIX}{key}_{:08x}", rand::random::<u32>())
}

/// The two families of pooled clones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CloneKind {
    /// Tests run in a transaction that is rolled back: the clone stays clean.
    Transaction,
    /// Tests commit what they like: the clone is reset (or recreated) after each.
    Database,
}

impl CloneKind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Self::Transaction => TX_CLONE_PREFIX,
            Self::Database => DB_CLONE_PREFIX,
        }
    }

    /// Clone `n` of the template `key`.
    pub(crate) fn clone_name(self, key: &str, n: u32) -> String {
        format!("{}{key}_{n}", self.prefix())
    }

    /// A `LIKE` pattern matching every clone of this kind of the template `key`.
    pub(crate) fn like_clones_of(self, key: &str) -> String {
        like_prefix(&format!("{}{key}_", self.prefix()))
    }

    /// The template key and the number of `name`, if it is a clone of this kind.
    pub(crate) fn parse(self, name: &str) -> Option<(&str, u32)> {
        let (key, n) = name.strip_prefix(self.prefix())?.rsplit_once('_')?;
        Some((key, n.parse().ok()?))
    }
}

/// A `LIKE` pattern matching every name that starts with `prefix` (escaping its `_`).
pub(crate) fn like_prefix(prefix: &str) -> String {
    format!("{}%", prefix.replace('_', "\\_"))
}

/// The name a kept database gets: the test's database name with the keep prefix.
pub(crate) fn kept_name(database: &str) -> String {
    let rest = [TEST_DB_PREFIX, TX_CLONE_PREFIX, DB_CLONE_PREFIX]
        .iter()
        .find_map(|p| database.strip_prefix(p))
        .unwrap_or(database);
    // A clone's name is reused by the next test: the kept copy needs one of its own.
    format!(
        "{KEEP_PREFIX}{rest}_{:06x}",
        rand::random::<u32>() & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgres_identifiers_and_keep_their_prefixes() {
        let key = "0123456789abcdef";
        let tx = CloneKind::Transaction.clone_name(key, 12);
        assert_eq!(tx, "persistence_tx_0123456789abcdef_12");
        let db = CloneKind::Database.clone_name(key, 4_000_000);
        assert!(db.starts_with(DB_CLONE_PREFIX) && db.len() < 63);
        let kept = kept_name(&db);
        assert!(kept.starts_with("persistence_keep_0123456789abcdef_4000000_"));
        assert!(kept.len() < 63, "{kept}");
        assert_eq!(like_prefix(TX_CLONE_PREFIX), "persistence\\_tx\\_%");
        assert_eq!(CloneKind::Database.parse(&db), Some((key, 4_000_000)));
        assert_eq!(CloneKind::Transaction.parse(&db), None);
        assert_eq!(
            CloneKind::Database.like_clones_of(key),
            "persistence\\_db\\_0123456789abcdef\\_%"
        );
        assert!(template_name(key).starts_with(TEMPLATE_PREFIX));
        assert!(test_database_name(key).len() < 63);
    }
}
