//! Kept databases: a failed database-mode test's database stays for inspection, as
//! `#[sqlx::test]` users expect, and is dropped when that test passes again.
//!
//! `PERSISTENCE_TEST_KEEP` ([`KeepPolicy`]) decides: `failed` (the default) keeps the
//! newest [`MAX_KEPT`] per template, `none` keeps nothing, `all` keeps every test's
//! database. A kept database lives on the test server: on an external server until it is
//! dropped; on a server the harness started, as long as that server does (its idle grace
//! after the run, or until `persistence test-server stop`; `persistence test-server keep`
//! keeps it). Each is recorded among the server's files, so that `persistence test-server
//! status` lists it and the next runs can find the ones of a test.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ephemeral::state_dir::digest_tag;

use crate::ephemeral::{BackendKind, KeepPolicy, Settings};
use crate::testing::error::HarnessError;
use crate::testing::pool::fresh::wait_for_backends;
use crate::testing::pool::janitor::JANITOR_APPLICATION;
use crate::testing::schema::names::KEEP_PREFIX;
use crate::testing::session::{AdminConnection, Session};
use crate::testing::sql::{RELAY_APPLICATION, drop_database, execute};

/// The most databases kept per template under `PERSISTENCE_TEST_KEEP=failed`: the oldest
/// goes when one more is kept.
pub(crate) const MAX_KEPT: usize = 10;

/// Whether the database of a test that `failed` (or not) is kept.
pub(crate) fn wanted(failed: bool) -> bool {
    match Settings::get().map(|s| s.keep).unwrap_or_default() {
        KeepPolicy::Failed => failed,
        KeepPolicy::None => false,
        KeepPolicy::All => true,
    }
}

/// The name a kept database of `test` gets: `persistence_keep_<template key>_<test>_<time>`,
/// so that the ones of a template, and of a test, are found by name, oldest first.
fn kept_name(key: &str, test: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{KEEP_PREFIX}{key}_{}_{now:010x}{:04x}",
        test_tag(test),
        rand::random::<u16>()
    )
}

/// 8 hex digits of the test's name.
fn test_tag(test: &str) -> String {
    digest_tag(test.as_bytes(), 4)
}

/// Renames `database` (its test's connections are closed) to a kept name, records it, and
/// says where it is; drops the oldest kept databases of the template beyond [`MAX_KEPT`].
pub(crate) async fn keep(
    admin: &mut AdminConnection,
    session: &Session,
    database: &str,
    test: &str,
    failed: bool,
) -> Result<(), HarnessError> {
    end_janitor_session(admin, database).await;
    wait_for_backends(admin, database).await;
    let kept = kept_name(&session.names.key, test);
    // Recorded first: whatever happens to this process next, the record names it.
    session.server.files().record_kept(&kept)?;
    execute(admin, format!("ALTER DATABASE {database} RENAME TO {kept}")).await?;
    let url = session.server.owner_url(&kept);
    let why = if failed { "failed test" } else { "test" };
    let lasts = match session.server.backend() {
        BackendKind::External => {
            "it stays until this test passes again, or `persistence \
                                   test-server stop` drops it"
        }
        _ => {
            "it lives as long as the test server, whose idle grace ends it after the run \
              unless `persistence test-server keep` keeps the server; it goes when this test \
              passes again"
        }
    };
    // One line: libtest and nextest show a failed test's stderr whole, and a line is what a
    // user copies from.
    eprintln!(
        "persistence: kept the database of this {why}: {url} ({lasts}); browse it: {}",
        studio_command(&url, &kept),
    );
    if matches!(
        Settings::get().map(|s| s.keep).unwrap_or_default(),
        KeepPolicy::Failed
    ) {
        bound(admin, session).await;
    }
    Ok(())
}

/// Drops the oldest kept databases of the session's template beyond [`MAX_KEPT`].
async fn bound(admin: &mut AdminConnection, session: &Session) {
    let prefix = format!("{KEEP_PREFIX}{}_", session.names.key);
    let mut ours: Vec<String> = session
        .server
        .files()
        .kept()
        .into_iter()
        .filter(|name| name.starts_with(&prefix))
        .collect();
    // The time is the name's last part, in fixed-width hex: by name is by age.
    ours.sort_by(|a, b| a.rsplit('_').next().cmp(&b.rsplit('_').next()));
    let excess = ours.len().saturating_sub(MAX_KEPT);
    for name in &ours[..excess] {
        if drop_database(admin, name).await.is_ok() {
            session.server.files().forget_kept(name);
        }
    }
}

/// After `test` passed: drops the databases kept when it failed before. Costs a directory
/// listing when there are none.
pub(crate) async fn forget(session: &Session, test: &str) -> Result<(), HarnessError> {
    let tag = format!("_{}_", test_tag(test));
    let prefix = format!("{KEEP_PREFIX}{}_", session.names.key);
    let ours: Vec<String> = session
        .server
        .files()
        .kept()
        .into_iter()
        .filter(|name| name.starts_with(&prefix) && name.contains(&tag))
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let mut admin = session.admin().await?;
    for name in &ours {
        drop_database(&mut admin, name).await?;
        session.server.files().forget_kept(name);
    }
    admin.release().await;
    Ok(())
}

/// Ends the idle sessions the janitor and the relay keep in the clone `name` (see
/// [`crate::testing::pool::janitor`], `relay`), which would keep it from being renamed.
/// The janitor only connects to a clone whose lease it holds, and the relay to a database a
/// client asks for: neither comes back.
async fn end_janitor_session(admin: &mut AdminConnection, name: &str) {
    let _ = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = ANY($2)",
    )
    .bind(name)
    .bind([JANITOR_APPLICATION, RELAY_APPLICATION])
    .execute(&mut **admin)
    .await;
}

/// The `persistence studio` command that opens a kept database. The URL is printed only if
/// it has no password; an external server's is masked, so the command takes it from
/// `TEST_DATABASE_URL` in the user's shell instead.
fn studio_command(display_url: &str, kept: &str) -> String {
    if display_url.contains(":***@") {
        format!("persistence studio --database-url \"$TEST_DATABASE_URL\" --database {kept}")
    } else {
        format!("persistence studio --database-url '{display_url}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_studio_command_of_a_kept_database_never_holds_a_password() {
        assert_eq!(
            studio_command(
                "postgres://postgres@127.0.0.1:5/persistence_keep_x",
                "persistence_keep_x"
            ),
            "persistence studio --database-url 'postgres://postgres@127.0.0.1:5/persistence_keep_x'"
        );
        let external = studio_command(
            "postgres://app:***@db:5432/persistence_keep_x",
            "persistence_keep_x",
        );
        assert_eq!(
            external,
            "persistence studio --database-url \"$TEST_DATABASE_URL\" --database persistence_keep_x"
        );
    }

    #[test]
    fn kept_names_fit_an_identifier_and_sort_by_age() {
        let a = kept_name("0123456789abcdef", "crate::tests::a_test");
        assert!(a.len() <= 63, "{a}");
        assert!(a.starts_with("persistence_keep_0123456789abcdef_"));
        assert!(a.contains(&format!("_{}_", test_tag("crate::tests::a_test"))));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
