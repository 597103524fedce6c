//! Template databases: migrations and fixtures applied once per schema, cloned per test.
//!
//! A template's name carries a hash of everything its contents depend on (the migrations,
//! the fixtures' text, the harness's version and the server's version), so a changed
//! migration or fixture gets a new template instead of a stale one. A schema with fixtures
//! has two: the migrations' own, and one cloned from it with the fixtures' rows, so that the
//! schemas of one migration set share their migration run. A template is built under an
//! advisory lock and marked complete with `IS_TEMPLATE`; one found half built (a builder
//! crashed) is dropped and rebuilt. Tests never run in a template: they lease clones of it
//! ([`crate::testing::pool`]), so a test pays nothing for its fixtures.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::ephemeral::state_dir::hex_tag;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::fixtures::{self, Fixture};
use super::names::{
    DB_CLONE_PREFIX, TEMPLATE_PREFIX, TX_CLONE_PREFIX, like_clones_of, like_prefix, template_name,
    test_database_name,
};
use super::{Migrations, Schema};
use crate::ephemeral::Server;
use crate::testing::error::{HarnessError, describe, locate};
use crate::testing::sql::{
    WATERMARK_SQL, create_from_template, databases_like, drop_database, execute,
    is_duplicate_database, locks, template_mark,
};

/// Changes whenever what the harness puts in a template changes.
const TEMPLATE_FORMAT: &str = concat!("persistence ", env!("CARGO_PKG_VERSION"), " template r1");

/// Templates not used for this long are dropped when another one is built.
const PRUNE_AFTER_SECS: u64 = 7 * 24 * 3600;

/// The template keys this process saw complete, so later tests skip the template lock; a
/// key is forgotten when its template turns out to be gone.
static READY: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The directories migrators were embedded from, by the migrator's address, so that a
/// failing migration is named by its path on disk ([`super::stale`] records them).
static MIGRATION_DIRS: Mutex<Vec<(usize, &'static str)>> = Mutex::new(Vec::new());

/// The databases of one schema on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateNames {
    /// 16 hex digits identifying the schema.
    pub(crate) key: String,
    /// The template itself (`IS_TEMPLATE`, never connected to after it is built).
    pub(crate) template: String,
    /// With fixtures: the template of the migrations alone, which this one is cloned from.
    pub(crate) parent: Option<Box<TemplateNames>>,
}

impl TemplateNames {
    pub(crate) fn new(schema: Schema, server_version: Option<&str>) -> Self {
        let mut hash = Sha256::new();
        hash.update(TEMPLATE_FORMAT);
        hash.update([0]);
        hash.update(server_version.unwrap_or("unknown"));
        if let Migrations::Embedded(migrator) = schema.migrations {
            for m in migrator.iter() {
                hash.update(m.version.to_le_bytes());
                hash.update(m.description.as_bytes());
                hash.update(format!("{:?}", m.migration_type));
                hash.update(&*m.checksum);
                hash.update([u8::from(m.no_tx)]);
            }
        }
        if let Some(role) = schema.role {
            // A template of its own: its migrations ran with the role there to grant to.
            hash.update(b"role\0");
            hash.update(role.as_bytes());
        }
        // The migrations' template is this hash so far: its state is finished on its own,
        // rather than the migrations hashed again for it (a cost of every test process).
        let parent =
            (!schema.fixtures.is_empty()).then(|| Box::new(Self::from_hash(hash.clone(), None)));
        for fixture in schema.fixtures {
            // Length-prefixed, so that no two lists hash alike.
            for part in [fixture.path, fixture.sql] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part.as_bytes());
            }
        }
        Self::from_hash(hash, parent)
    }

    /// The names of the template whose contents `hash` has hashed.
    fn from_hash(hash: Sha256, parent: Option<Box<TemplateNames>>) -> Self {
        let digest = hash.finalize();
        let key = hex_tag(&digest, 8);
        Self {
            template: template_name(&key),
            key,
            parent,
        }
    }

    /// The name of a per-test database cloned from this template.
    pub(crate) fn test_database(&self) -> String {
        test_database_name(&self.key)
    }
}

/// What a template is built from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// An empty database, migrated, once the test role (if any) exists.
    Migrations {
        migrations: Migrations,
        role: Option<&'static str>,
    },
    /// A clone of `parent` (the migrations' template), with the fixtures run in it.
    Fixtures {
        parent: &'a TemplateNames,
        fixtures: &'static [Fixture],
    },
}

/// Makes sure the template of `names` (the names of `schema`) exists, building it (and the
/// migrations' template it is cloned from) if not. `admin` is a connection to the
/// maintenance database.
pub(crate) async fn ensure(
    admin: &mut PgConnection,
    server: &Server,
    names: &TemplateNames,
    schema: Schema,
) -> Result<(), HarnessError> {
    let migrations = Source::Migrations {
        migrations: schema.migrations,
        role: schema.role,
    };
    match &names.parent {
        None => ensure_one(admin, server, names, migrations).await,
        Some(parent) => {
            ensure_one(admin, server, parent, migrations).await?;
            let source = Source::Fixtures {
                parent,
                fixtures: schema.fixtures,
            };
            ensure_one(admin, server, names, source).await
        }
    }
}

async fn ensure_one(
    admin: &mut PgConnection,
    server: &Server,
    names: &TemplateNames,
    source: Source<'_>,
) -> Result<(), HarnessError> {
    if READY.lock().is_ok_and(|set| set.contains(&names.key)) {
        return Ok(());
    }
    let lock_key = format!("persistence template {}", names.key);
    locks::lock(admin, &lock_key)
        .await
        .map_err(HarnessError::sql("taking the template lock"))?;
    let built = build_under_lock(admin, server, names, source).await;
    let unlocked = locks::unlock(admin, &lock_key)
        .await
        .map_err(HarnessError::sql("releasing the template lock"));
    built?;
    unlocked?;
    if let Ok(mut set) = READY.lock() {
        set.insert(names.key.clone());
    }
    Ok(())
}

/// Forgets that this process saw the template of `names` ready (it was dropped since), and
/// the migrations' template it was cloned from.
pub(crate) fn forget(names: &TemplateNames) {
    if let Ok(mut set) = READY.lock() {
        set.remove(&names.key);
        if let Some(parent) = &names.parent {
            set.remove(&parent.key);
        }
    }
}

async fn build_under_lock(
    admin: &mut PgConnection,
    server: &Server,
    names: &TemplateNames,
    source: Source<'_>,
) -> Result<(), HarnessError> {
    match template_mark(admin, &names.template).await? {
        Some(true) => {}
        half_built => {
            if half_built.is_some() {
                tracing::info!(template = %names.template, "persistence: rebuilding a half-built template");
                drop_clones(admin, &names.key).await;
                drop_database(admin, &names.template).await?;
            }
            build(admin, server, names, source).await?;
        }
    }
    Ok(())
}

async fn build(
    admin: &mut PgConnection,
    server: &Server,
    names: &TemplateNames,
    source: Source<'_>,
) -> Result<(), HarnessError> {
    let connect = || async {
        PgConnection::connect_with(&server.options_for(&names.template))
            .await
            .map_err(|source| HarnessError::connect(server.display_url(&names.template), source))
    };
    match source {
        Source::Migrations { migrations, role } => {
            if let Some(role) = role {
                ensure_role(admin, role).await?;
            }
            execute(admin, format!("CREATE DATABASE {}", names.template)).await?;
            if let Migrations::Embedded(migrator) = migrations {
                let mut conn = connect().await?;
                // `run_direct` is what `run` calls: `run`'s `Acquire<'a>` bound makes the
                // template's future not `Send` for every lifetime, which the harness's
                // driver needs.
                let applied = migrator.run_direct(None, &mut conn, false).await;
                let _ = conn.close().await;
                applied.map_err(|err| migration_error(migrator, err))?;
            }
        }
        Source::Fixtures { parent, fixtures } => {
            execute(
                admin,
                create_from_template(server, &names.template, &parent.template),
            )
            .await?;
            let mut conn = connect().await?;
            let applied = fixtures::apply(&mut conn, fixtures).await;
            let _ = conn.close().await;
            applied?;
        }
    }
    let built_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    execute(
        admin,
        format!(
            "COMMENT ON DATABASE {} IS 'persistence template built {built_at}'",
            names.template
        ),
    )
    .await?;
    // The mark of a complete template: set last, after every migration succeeded.
    execute(
        admin,
        format!("ALTER DATABASE {} WITH IS_TEMPLATE true", names.template),
    )
    .await?;
    prune(admin, names, built_at).await;
    Ok(())
}

/// Makes sure `role` can log in as a test role: created (`LOGIN`, no other attribute) if it
/// does not exist, refused if it is a superuser (row-level security would not apply to it,
/// which is what a test role is for). It gets the password of the harness's own user (the
/// server's generated one), copied as its SCRAM verifier, so the tests' connections log in
/// with the options the harness uses, and the secret never leaves the server. A role of
/// the external backend whose user cannot read `pg_authid` keeps the password it has.
///
/// Under a transaction-scoped advisory lock: two processes building templates of two
/// migration sets may make the same role at once, and concurrent `ALTER ROLE`s fail.
pub(crate) async fn ensure_role(admin: &mut PgConnection, role: &str) -> Result<(), HarnessError> {
    let name = quote_literal(role);
    let sql = format!(
        r#"DO $persistence$
DECLARE
    verifier text;
    existing pg_roles%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('persistence role ' || {name}));
    SELECT * INTO existing FROM pg_roles WHERE rolname = {name};
    IF NOT FOUND THEN
        EXECUTE format('CREATE ROLE %I LOGIN', {name});
    ELSIF existing.rolsuper THEN
        RAISE EXCEPTION 'the test role % is a superuser: row-level security and missing grants would go unnoticed', {name}
            USING HINT = 'name a role that is not a superuser (the harness creates it if it does not exist)';
    ELSIF NOT existing.rolcanlogin THEN
        EXECUTE format('ALTER ROLE %I LOGIN', {name});
    END IF;
    BEGIN
        SELECT rolpassword INTO verifier FROM pg_authid WHERE rolname = session_user;
    EXCEPTION WHEN insufficient_privilege THEN
        verifier := NULL;
    END;
    IF verifier LIKE 'SCRAM-SHA-256$%' AND verifier IS DISTINCT FROM
        (SELECT rolpassword FROM pg_authid WHERE rolname = {name}) THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', {name}, verifier);
    END IF;
END
$persistence$"#
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(admin)
        .await
        .map(drop)
        .map_err(HarnessError::sql(format!("making the test role {role:?}")))
}

/// `value` as an SQL string literal.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Drops other templates (and their clones) built long ago; one in use is left.
async fn prune(admin: &mut PgConnection, current: &TemplateNames, now: u64) {
    // One process prunes at a time: two that drop, unmark and drop the same old template
    // and clones at once only get in each other's way.
    const PRUNE_LOCK: &str = "persistence prune";
    if locks::lock(admin, PRUNE_LOCK).await.is_err() {
        return;
    }
    prune_under_lock(admin, current, now).await;
    let _ = locks::unlock(admin, PRUNE_LOCK).await;
}

async fn prune_under_lock(admin: &mut PgConnection, current: &TemplateNames, now: u64) {
    let rows = sqlx::query(
        "SELECT d.datname, shobj_description(d.oid, 'pg_database') AS note \
         FROM pg_database d WHERE d.datname LIKE $1 AND d.datistemplate",
    )
    .bind(like_prefix(TEMPLATE_PREFIX))
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for row in rows {
        let name: String = row.get("datname");
        let note: Option<String> = row.get("note");
        // Only complete templates (IS_TEMPLATE, set after the comment) with a known build
        // time: one still being built by another process has neither, and is not old.
        let Some(built) = note
            .as_deref()
            .and_then(|n| n.rsplit(' ').next())
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        if name == current.template || now.saturating_sub(built) < PRUNE_AFTER_SECS {
            continue;
        }
        if let Some(key) = name.strip_prefix(TEMPLATE_PREFIX) {
            drop_clones(admin, key).await;
        }
        let _ = execute(
            admin,
            format!("ALTER DATABASE {name} WITH IS_TEMPLATE false"),
        )
        .await;
        let _ = execute(admin, format!("DROP DATABASE IF EXISTS {name}")).await;
    }
}

/// Drops every clone of the template `key` (a clone in use is ended with it).
async fn drop_clones(admin: &mut PgConnection, key: &str) {
    for prefix in [TX_CLONE_PREFIX, DB_CLONE_PREFIX] {
        for name in databases_like(admin, &like_clones_of(prefix, key)).await {
            let _ = drop_database(admin, &name).await;
        }
    }
}

fn migration_error(
    migrator: &'static sqlx::migrate::Migrator,
    err: sqlx::migrate::MigrateError,
) -> HarnessError {
    use sqlx::migrate::MigrateError;
    match err {
        MigrateError::ExecuteMigration(source, version) => {
            let migration = migrator.iter().find(|m| m.version == version);
            let file = migration.map_or_else(
                || version.to_string(),
                |m| {
                    let name = format!(
                        "{}_{}{}",
                        m.version,
                        m.description.replace(' ', "_"),
                        m.migration_type.suffix()
                    );
                    // The user's file on disk when the test said where the migrations are.
                    match dir_of(migrator) {
                        Some(dir) => std::path::Path::new(dir).join(name).display().to_string(),
                        None => name,
                    }
                },
            );
            HarnessError::Migration {
                file,
                location: migration
                    .map_or_else(String::new, |m| locate(m.sql.as_str(), &source, None)),
                detail: describe(&source),
            }
        }
        other => HarnessError::Migration {
            file: "(the migration set)".to_owned(),
            location: String::new(),
            detail: other.to_string(),
        },
    }
}

/// Remembers that `migrator` was embedded from `dir` (an absolute path).
pub(crate) fn remember_dir(migrator: &'static sqlx::migrate::Migrator, dir: &'static str) {
    let key = std::ptr::from_ref(migrator) as usize;
    let mut dirs = MIGRATION_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if !dirs.iter().any(|(k, _)| *k == key) {
        dirs.push((key, dir));
    }
}

fn dir_of(migrator: &'static sqlx::migrate::Migrator) -> Option<&'static str> {
    let key = std::ptr::from_ref(migrator) as usize;
    let dirs = MIGRATION_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    dirs.iter().find(|(k, _)| *k == key).map(|(_, dir)| *dir)
}

/// Clones `template` as `name` (dropping an old `name` first when `replace`), through
/// `admin`, a connection to the maintenance database. Returns the fresh clone's watermark.
pub(crate) async fn clone_template(
    admin: &mut PgConnection,
    server: &Server,
    template: &str,
    name: &str,
    replace: bool,
) -> Result<u64, HarnessError> {
    if replace {
        drop_database(admin, name).await?;
    }
    match execute(admin, create_from_template(server, name, template)).await {
        Ok(()) => {}
        // Created meanwhile by a process of another machine (external server).
        Err(HarnessError::Sql { source, .. }) if is_duplicate_database(&source) => {}
        Err(err) => return Err(err),
    }
    let watermark: i64 = sqlx::query_scalar(WATERMARK_SQL)
        .fetch_one(&mut *admin)
        .await
        .map_err(HarnessError::sql(
            "reading the transaction id after a clone",
        ))?;
    Ok(u64::try_from(watermark).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::schema::names::TEST_DB_PREFIX;

    const NO_SCHEMA: Schema = Schema {
        migrations: Migrations::None,
        fixtures: &[],
        role: None,
    };

    #[test]
    fn fixtures_get_a_template_of_their_own_cloned_from_the_migrations() {
        const USERS: &[Fixture] = &[Fixture::new("users.sql", "INSERT INTO t VALUES (1)")];
        const EDITED: &[Fixture] = &[Fixture::new("users.sql", "INSERT INTO t VALUES (2)")];
        const SPLIT: &[Fixture] = &[
            Fixture::new("users.sql", "INSERT INTO t VALUES"),
            Fixture::new(" (1)", ""),
        ];
        let bare = TemplateNames::new(NO_SCHEMA, Some("15.18"));
        let with = |fixtures| {
            TemplateNames::new(
                Schema {
                    fixtures,
                    ..NO_SCHEMA
                },
                Some("15.18"),
            )
        };
        let users = with(USERS);
        assert_eq!(users.parent.as_deref(), Some(&bare));
        assert_ne!(users.key, bare.key);
        assert_eq!(bare.parent, None);
        // A fixture edited between two runs is a new template.
        assert_ne!(with(EDITED).key, users.key);
        assert_ne!(with(SPLIT).key, users.key);
        assert_eq!(with(USERS), users);
    }

    #[test]
    fn a_role_gets_a_template_of_its_own() {
        let superuser = TemplateNames::new(NO_SCHEMA, Some("15.18"));
        let app = |role| {
            TemplateNames::new(
                Schema {
                    role: Some(role),
                    ..NO_SCHEMA
                },
                Some("15.18"),
            )
        };
        assert_ne!(app("app").key, superuser.key);
        assert_ne!(app("app").key, app("reader").key);
        assert_eq!(app("app"), app("app"));
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
    }

    #[test]
    fn names_depend_on_the_server_version() {
        let a = TemplateNames::new(NO_SCHEMA, Some("15.18"));
        let b = TemplateNames::new(NO_SCHEMA, Some("16.4"));
        assert_ne!(a.key, b.key);
        assert_eq!(a, TemplateNames::new(NO_SCHEMA, Some("15.18")));
        assert!(a.template.len() < 63 && a.test_database().len() < 63);
        assert!(a.template.starts_with(TEMPLATE_PREFIX));
        assert!(a.test_database().starts_with(TEST_DB_PREFIX));
    }

    /// Old templates go with their clones of both modes; the current one and its clones stay.
    #[test]
    fn an_old_template_is_pruned_with_its_clones() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let server = crate::ephemeral::server().await.expect("a test server");
            let mut admin = PgConnection::connect_with(server.admin_options())
                .await
                .expect("admin");
            let old = format!("{:016x}", rand::random::<u64>());
            let current = TemplateNames::new(NO_SCHEMA, Some(&old));
            let old_template = template_name(&old);
            let clones = [
                format!("{TX_CLONE_PREFIX}{old}_0"),
                format!("{DB_CLONE_PREFIX}{old}_3"),
            ];
            let kept_clone = format!("{DB_CLONE_PREFIX}{}_0", current.key);
            for name in [&old_template, &current.template] {
                execute(&mut admin, format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create");
            }
            execute(
                &mut admin,
                format!("COMMENT ON DATABASE {old_template} IS 'persistence template built 1'"),
            )
            .await
            .expect("comment");
            execute(
                &mut admin,
                format!("ALTER DATABASE {old_template} WITH IS_TEMPLATE true"),
            )
            .await
            .expect("complete");
            for name in clones.iter().chain([&kept_clone]) {
                execute(&mut admin, format!("CREATE DATABASE {name}"))
                    .await
                    .expect("clone");
            }

            prune(&mut admin, &current, PRUNE_AFTER_SECS + 10).await;

            let left: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY 1",
            )
            .bind(vec![
                old_template.clone(),
                clones[0].clone(),
                clones[1].clone(),
                current.template.clone(),
                kept_clone.clone(),
            ])
            .fetch_all(&mut admin)
            .await
            .expect("list");
            for name in [&current.template, &kept_clone] {
                execute(&mut admin, format!("DROP DATABASE {name}"))
                    .await
                    .expect("drop");
            }
            let mut expected = vec![current.template.clone(), kept_clone.clone()];
            expected.sort();
            assert_eq!(left, expected);
        });
    }
}
