//! The schema itself: every migration of `migrations/` can be reverted.

use page_builder::MIGRATOR;
use persistence::postgres::migrate::{MigrationState, StatusReport};

#[test]
fn the_embedded_migrations_are_reversible_pairs() {
    let report = StatusReport::compute(&MIGRATOR, &[]);
    assert_eq!(report.migrations.len(), 8, "{report:?}");
    assert!(
        report
            .migrations
            .iter()
            .all(|m| m.reversible && m.state == MigrationState::Pending),
        "{report:?}"
    );
}
