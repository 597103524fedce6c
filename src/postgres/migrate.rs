//! Migrations: the workflow the CLI exposes, on a [`Migrator`] of the caller's: [`run`],
//! [`status`], [`add`], [`revert`] and [`reset`].
//!
//! Migrations are sqlx migrations (`<version>_<name>.up.sql` / `.down.sql` in `migrations/`),
//! recorded in sqlx's `_sqlx_migrations` table, so `sqlx migrate` and this module agree. A
//! service embeds its own at compile time, `static MIGRATOR: Migrator = sqlx::migrate!();`,
//! and passes that to [`run`].

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use super::client::connect_one;
use super::config::PgConfig;
use super::error::{Error, Kind};

/// Where a migration stands in a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Applied, and the file is unchanged since.
    Applied,
    /// Not applied yet.
    Pending,
    /// Applied, but the file changed afterwards (checksum mismatch): `run` refuses to go on.
    Edited,
    /// Started and failed part-way (the database is "dirty"): fix it by hand, then delete its
    /// row from `_sqlx_migrations`.
    Failed,
}

/// One migration of the source and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// The version (the file name's number).
    pub version: i64,
    /// The description (the file name's words).
    pub description: String,
    /// Its state in the database.
    pub state: MigrationState,
    /// Whether it has a `.down.sql`, i.e. can be reverted.
    pub reversible: bool,
}

/// A migration recorded in the database but absent from the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownMigration {
    /// Its version.
    pub version: i64,
    /// Its description, as recorded.
    pub description: String,
}

/// A row of `_sqlx_migrations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedRecord {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// False when the migration failed part-way.
    pub success: bool,
    /// The SHA-384 of the SQL that was applied.
    pub checksum: Vec<u8>,
}

/// The state of every migration, as [`status`] finds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The source's migrations, in version order.
    pub migrations: Vec<MigrationStatus>,
    /// Applied migrations the source does not have (deleted or renamed files; or the database
    /// is ahead of this build). `run` refuses to go on while there are any.
    pub unknown: Vec<UnknownMigration>,
}

impl StatusReport {
    /// Compares the source with the applied records: the pure half of [`status`].
    pub fn compute(migrator: &Migrator, applied: &[AppliedRecord]) -> Self {
        let by_version: HashMap<i64, &AppliedRecord> =
            applied.iter().map(|r| (r.version, r)).collect();
        let reversible: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type == MigrationType::ReversibleDown)
            .map(|m| m.version)
            .collect();
        let migrations = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|migration| MigrationStatus {
                version: migration.version,
                description: migration.description.to_string(),
                state: state_of(migration, by_version.get(&migration.version).copied()),
                reversible: reversible.contains(&migration.version),
            })
            .collect();
        let unknown = applied
            .iter()
            .filter(|record| !migrator.version_exists(record.version))
            .map(|record| UnknownMigration {
                version: record.version,
                description: record.description.clone(),
            })
            .collect();
        Self {
            migrations,
            unknown,
        }
    }

    /// The migrations in `state`.
    pub fn in_state(&self, state: MigrationState) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(move |m| m.state == state)
    }

    /// True when everything is applied, nothing was edited or failed, and nothing is unknown.
    pub fn is_up_to_date(&self) -> bool {
        self.unknown.is_empty()
            && self
                .migrations
                .iter()
                .all(|m| m.state == MigrationState::Applied)
    }

    /// True when something needs a human: an edited, failed or unknown migration.
    pub fn needs_attention(&self) -> bool {
        !self.unknown.is_empty()
            || self
                .migrations
                .iter()
                .any(|m| matches!(m.state, MigrationState::Edited | MigrationState::Failed))
    }
}

fn state_of(migration: &Migration, record: Option<&AppliedRecord>) -> MigrationState {
    match record {
        None => MigrationState::Pending,
        Some(record) if !record.success => MigrationState::Failed,
        Some(record) if *record.checksum != *migration.checksum => MigrationState::Edited,
        Some(_) => MigrationState::Applied,
    }
}

/// Reads `_sqlx_migrations` (an empty list when the table does not exist yet: nothing is
/// created just by looking).
pub async fn applied(
    migrator: &Migrator,
    connection: &mut PgConnection,
) -> Result<Vec<AppliedRecord>, Error> {
    let table: &str = &migrator.table_name;
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(&mut *connection)
        .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    // The table name comes from the migrator's configuration, not from user input.
    let rows: Vec<(i64, String, bool, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT version, description, success, checksum FROM {table} ORDER BY version"
    )))
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(version, description, success, checksum)| AppliedRecord {
            version,
            description,
            success,
            checksum,
        })
        .collect())
}

/// The state of every migration of `migrator` in the database `connection` is on.
pub async fn status(
    migrator: &Migrator,
    connection: &mut PgConnection,
) -> Result<StatusReport, Error> {
    let records = applied(migrator, connection).await?;
    Ok(StatusReport::compute(migrator, &records))
}

/// Applies the pending migrations (each in its own transaction, under sqlx's advisory lock)
/// and returns the ones that were pending. Refuses, like sqlx, when a migration was edited,
/// failed or is unknown.
pub async fn run(
    migrator: &Migrator,
    connection: &mut PgConnection,
) -> Result<Vec<MigrationStatus>, Error> {
    let before = status(migrator, connection).await?;
    migrator.run(&mut *connection).await?;
    Ok(before
        .in_state(MigrationState::Pending)
        .cloned()
        .map(|m| MigrationStatus {
            state: MigrationState::Applied,
            ..m
        })
        .collect())
}

/// Reverts the most recently applied migration with its `.down.sql`; `Ok(None)` when nothing
/// is applied.
pub async fn revert(
    migrator: &Migrator,
    connection: &mut PgConnection,
) -> Result<Option<MigrationStatus>, Error> {
    let records = applied(migrator, connection).await?;
    let report = StatusReport::compute(migrator, &records);
    let Some(latest) = records.last() else {
        return Ok(None);
    };
    let Some(migration) = report
        .migrations
        .iter()
        .find(|m| m.version == latest.version)
    else {
        return Err(Kind::MigrationWorkflow(format!(
            "the latest applied migration {} ({}) is not in the migration source; revert it by hand",
            latest.version, latest.description
        ))
        .into());
    };
    if !migration.reversible {
        return Err(Kind::MigrationWorkflow(format!(
            "migration {} ({}) has no .down.sql, so it cannot be reverted",
            migration.version, migration.description
        ))
        .into());
    }
    let target = records
        .iter()
        .rev()
        .nth(1)
        .map_or(0, |previous| previous.version);
    migrator.undo(&mut *connection, target).await?;
    Ok(Some(MigrationStatus {
        state: MigrationState::Pending,
        ..migration.clone()
    }))
}

/// The files [`add`] created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewMigration {
    /// The version (a UTC timestamp, `YYYYMMDDHHMMSS`).
    pub version: i64,
    /// `<version>_<name>.up.sql`.
    pub up: PathBuf,
    /// `<version>_<name>.down.sql`.
    pub down: PathBuf,
}

/// Creates a reversible migration pair `<timestamp>_<name>.up.sql` / `.down.sql` in
/// `directory` (created if missing). The name is turned into `snake_case`; the version is the
/// current UTC time, bumped past the newest existing migration so the order is always right.
pub fn add(directory: &Path, name: &str) -> Result<NewMigration, Error> {
    let slug = migration_slug(name).ok_or_else(|| {
        Error::from(Kind::MigrationWorkflow(format!(
            "`{name}` is not a usable migration name: use letters and digits, e.g. add_users_email"
        )))
    })?;
    fs::create_dir_all(directory)
        .map_err(|e| Error::io(format!("creating {}", directory.display()), e))?;
    let newest = newest_version(directory)?;
    let version = next_version(timestamp_version(SystemTime::now()), newest);
    let (up_name, down_name) = file_names(version, &slug);
    let up = directory.join(up_name);
    let down = directory.join(down_name);
    write_new(&up, &format!("-- {slug}: the change.\n"))?;
    if let Err(error) = write_new(
        &down,
        &format!("-- {slug}: undo exactly what the .up.sql does.\n"),
    ) {
        let _ = fs::remove_file(&up);
        return Err(error);
    }
    Ok(NewMigration { version, up, down })
}

fn write_new(path: &Path, contents: &str) -> Result<(), Error> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

/// The largest version among the migration files of `directory`.
fn newest_version(directory: &Path) -> Result<Option<i64>, Error> {
    let entries = fs::read_dir(directory)
        .map_err(|e| Error::io(format!("reading {}", directory.display()), e))?;
    Ok(entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| version_of(&entry.file_name().to_string_lossy()))
        .max())
}

fn version_of(file_name: &str) -> Option<i64> {
    if !file_name.ends_with(".sql") {
        return None;
    }
    file_name.split_once('_')?.0.parse().ok()
}

/// `Add customers.email!` -> `add_customers_email`; `None` if nothing usable is left.
pub(crate) fn migration_slug(name: &str) -> Option<String> {
    let slug = super::slugify(name, '_');
    (!slug.is_empty()).then_some(slug)
}

fn file_names(version: i64, slug: &str) -> (String, String) {
    (
        format!("{version}_{slug}.up.sql"),
        format!("{version}_{slug}.down.sql"),
    )
}

/// `YYYYMMDDHHMMSS` in UTC, the version format of `sqlx migrate add`.
pub(crate) fn timestamp_version(now: SystemTime) -> i64 {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    version_of_seconds(i64::try_from(seconds).unwrap_or(0))
}

fn version_of_seconds(seconds: i64) -> i64 {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}")
        .parse()
        .unwrap_or(0)
}

/// The version for a new migration: `now`, unless the directory already has one at or after
/// it (two `add`s in one second, or a clock behind a teammate's). Then it is the second after
/// the newest, counted on the clock, so a version made at `...59` seconds is followed by the
/// next minute's `...00`, never by a seconds field of `60`.
fn next_version(now: i64, newest: Option<i64>) -> i64 {
    match newest {
        Some(newest) if newest >= now => {
            seconds_of_version(newest).map_or(newest + 1, |s| version_of_seconds(s + 1))
        }
        _ => now,
    }
}

/// Seconds since the epoch of a `YYYYMMDDHHMMSS` version; `None` when it is not a valid time
/// (e.g. the small counters some projects use as versions).
fn seconds_of_version(version: i64) -> Option<i64> {
    if !(10_000_101_000_000..=99_991_231_235_959).contains(&version) {
        return None;
    }
    let (date, time) = (version / 1_000_000, version % 1_000_000);
    let (year, month, day) = (date / 10_000, date / 100 % 100, date % 100);
    let (hour, minute, second) = (time / 10_000, time / 100 % 100, time % 100);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Drops the configured database, creates it again and applies `migrator`: a development
/// tool. Existing sessions on the database are terminated. The caller decides whether this is
/// allowed (see the CLI's `db reset`, which refuses non-local hosts).
pub async fn reset(config: &PgConfig, migrator: &Migrator) -> Result<Vec<MigrationStatus>, Error> {
    let database = config.database();
    // createdb's convention: work from `postgres`, or from `template1` when resetting `postgres`.
    let maintenance = if database == "postgres" {
        "template1"
    } else {
        "postgres"
    };
    let mut admin = connect_one(&config.with_database(maintenance)).await?;
    let quoted = super::config::quote_identifier(database);
    if admin.server_version_num().is_some_and(|v| v >= 130_000) {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    } else {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(database)
            .execute(&mut admin)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted}")))
            .execute(&mut admin)
            .await?;
    }
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    let mut connection = connect_one(config).await?;
    let applied = run(migrator, &mut connection).await;
    let _ = connection.close().await;
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::SqlSafeStr;
    use std::time::Duration;

    fn migration(version: i64, kind: MigrationType, sql: &'static str) -> Migration {
        Migration::new(
            version,
            format!("m{version}").into(),
            kind,
            sql.into_sql_str(),
            false,
        )
    }

    fn migrator() -> Migrator {
        Migrator::with_migrations(vec![
            migration(1, MigrationType::ReversibleUp, "CREATE TABLE a ()"),
            migration(1, MigrationType::ReversibleDown, "DROP TABLE a"),
            migration(2, MigrationType::Simple, "CREATE TABLE b ()"),
            migration(3, MigrationType::ReversibleUp, "CREATE TABLE c ()"),
            migration(3, MigrationType::ReversibleDown, "DROP TABLE c"),
            migration(4, MigrationType::ReversibleUp, "CREATE TABLE d ()"),
            migration(4, MigrationType::ReversibleDown, "DROP TABLE d"),
        ])
    }

    fn record(migrator: &Migrator, version: i64, success: bool) -> AppliedRecord {
        let checksum = migrator
            .iter()
            .find(|m| m.version == version && m.migration_type.is_up_migration())
            .map_or_else(Vec::new, |m| m.checksum.to_vec());
        AppliedRecord {
            version,
            description: format!("m{version}"),
            success,
            checksum,
        }
    }

    #[test]
    fn every_state() {
        let migrator = migrator();
        let mut edited = record(&migrator, 2, true);
        edited.checksum = vec![0; 48];
        let records = vec![
            record(&migrator, 1, true),
            edited,
            record(&migrator, 3, false),
            AppliedRecord {
                version: 9,
                description: "gone".into(),
                success: true,
                checksum: vec![],
            },
        ];
        let report = StatusReport::compute(&migrator, &records);
        let states: Vec<_> = report
            .migrations
            .iter()
            .map(|m| (m.version, m.state, m.reversible))
            .collect();
        assert_eq!(
            states,
            vec![
                (1, MigrationState::Applied, true),
                (2, MigrationState::Edited, false),
                (3, MigrationState::Failed, true),
                (4, MigrationState::Pending, true),
            ]
        );
        assert_eq!(
            report.unknown,
            vec![UnknownMigration {
                version: 9,
                description: "gone".into()
            }]
        );
        assert!(!report.is_up_to_date());
        assert!(report.needs_attention());
        assert_eq!(report.in_state(MigrationState::Pending).count(), 1);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["migrations"][1]["state"], "edited");
        assert_eq!(json["migrations"][2]["state"], "failed");
        assert_eq!(json["unknown"][0]["version"], 9);
    }

    #[test]
    fn up_to_date_and_pending_only() {
        let migrator = migrator();
        let all: Vec<_> = [1, 2, 3, 4]
            .iter()
            .map(|v| record(&migrator, *v, true))
            .collect();
        let report = StatusReport::compute(&migrator, &all);
        assert!(report.is_up_to_date());
        assert!(!report.needs_attention());
        let report = StatusReport::compute(&migrator, &all[..2]);
        assert!(!report.is_up_to_date());
        assert!(!report.needs_attention(), "pending alone needs no human");
        assert_eq!(
            StatusReport::compute(&migrator, &[])
                .in_state(MigrationState::Pending)
                .count(),
            4
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(
            migration_slug("Add customers.email!").as_deref(),
            Some("add_customers_email")
        );
        assert_eq!(
            migration_slug("  create   orders ").as_deref(),
            Some("create_orders")
        );
        assert_eq!(
            migration_slug("already_snake_42").as_deref(),
            Some("already_snake_42")
        );
        assert_eq!(migration_slug("--"), None);
        assert_eq!(migration_slug(""), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_version(UNIX_EPOCH), 19700101000000);
        let moment = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29 23:59:59 UTC
        assert_eq!(timestamp_version(moment), 20240229235959);
        let moment = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29 00:00:00 UTC
        assert_eq!(timestamp_version(moment), 20000229000000);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn next_versions_are_valid_times_after_the_newest() {
        let now = 20260101120000;
        assert_eq!(next_version(now, None), now);
        assert_eq!(next_version(now, Some(20250101000000)), now, "older ones");
        assert_eq!(next_version(now, Some(now)), 20260101120001, "same second");
        assert_eq!(next_version(now, Some(20260101120059)), 20260101120100);
        assert_eq!(next_version(now, Some(20261231235959)), 20270101000000);
        assert_eq!(
            next_version(20240228000000, Some(20240228235959)),
            20240229000000
        );
        assert_eq!(
            next_version(20230228235958, Some(20230228235959)),
            20230301000000
        );
        // Not a time: counted on.
        assert_eq!(next_version(5, Some(7)), 8);
        assert_eq!(
            next_version(now, Some(99_999_999_999_999)),
            100_000_000_000_000
        );
        for (version, seconds) in [(19700101000000, 0), (20240229235959, 1_709_251_199)] {
            assert_eq!(seconds_of_version(version), Some(seconds));
            assert_eq!(version_of_seconds(seconds), version);
        }
        for invalid in [
            20240230000000,
            20230229000000,
            20240101240000,
            20240101006000,
            20240101000060,
            20241301000000,
        ] {
            assert_eq!(seconds_of_version(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn versions_of_file_names() {
        assert_eq!(
            version_of("20260101000001_create_health_check.up.sql"),
            Some(20260101000001)
        );
        assert_eq!(version_of("3_x.sql"), Some(3));
        assert_eq!(version_of("README.md"), None);
        assert_eq!(version_of("notes_x.sql"), None);
        assert_eq!(
            file_names(5, "x"),
            ("5_x.up.sql".to_owned(), "5_x.down.sql".to_owned())
        );
    }

    #[test]
    fn add_creates_a_reversible_pair_after_the_newest() {
        let directory =
            std::env::temp_dir().join(format!("persistence-migrate-add-{}", std::process::id()));
        let _ = fs::remove_dir_all(&directory);
        let first = add(&directory, "Create widgets").expect("created");
        assert!(
            first
                .up
                .ends_with(format!("{}_create_widgets.up.sql", first.version))
        );
        assert!(
            first
                .down
                .ends_with(format!("{}_create_widgets.down.sql", first.version))
        );
        assert!(
            fs::read_to_string(&first.up)
                .expect("readable")
                .starts_with("-- create_widgets")
        );
        // Same second: the next one must still sort after.
        let second = add(&directory, "index widgets").expect("created");
        assert!(second.version > first.version);
        // A file from the future pushes the version past it, to the next valid second.
        fs::write(directory.join("99990101235959_future.up.sql"), "").expect("write");
        let third = add(&directory, "later").expect("created");
        assert_eq!(third.version, 99990102000000);
        let error = add(&directory, "!!!").expect_err("bad name");
        assert!(error.to_string().contains("not a usable migration name"));
        let _ = fs::remove_dir_all(&directory);
    }

    #[test]
    fn add_reports_unwritable_directories() {
        // A directory cannot be made below a file, on any system.
        let below_a_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml/not/here");
        let error = add(&below_a_file, "x").expect_err("unwritable");
        assert_eq!(error.category(), crate::postgres::ErrorCategory::Other);
        assert!(
            error
                .to_string()
                .starts_with(&format!("creating {}", below_a_file.display())),
            "{error}"
        );
    }
}
