//! Catches a test binary that is older than its migrations.
//!
//! `sqlx::migrate!` embeds the migration files when the test is compiled, but cargo only
//! rebuilds when a file it knows about changes: a new migration in `migrations/` goes
//! unnoticed without a build script that says `cargo:rerun-if-changed=migrations`, and the
//! tests pass against the old schema. The macro hands over the directory it embedded; this
//! compares it, once per process and directory, with what is on disk now.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sqlx::migrate::{MigrationType, Migrator};

use super::Migrations;
use crate::testing::error::HarnessError;

/// What one check found, kept for the other tests of the process.
type Verdict = Option<(String, &'static str)>;

/// Fails when the embedded `migrations` differ from `dir`, the directory on disk they were
/// embedded from.
///
/// A directory that is gone (a test binary run on another machine, from an archive) is not
/// checked: there is nothing to be stale against.
pub(crate) fn check(migrations: Migrations, dir: Option<&'static str>) -> Result<(), HarnessError> {
    let (Migrations::Embedded(migrator), Some(dir)) = (migrations, dir) else {
        return Ok(());
    };
    // A migration that fails later is then named by its path on disk.
    super::template::remember_dir(migrator, dir);
    static CHECKED: OnceLock<Mutex<HashMap<&'static str, Verdict>>> = OnceLock::new();
    let verdict = {
        let mut checked = CHECKED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        checked
            .entry(dir)
            .or_insert_with(|| compare(migrator, Path::new(dir)))
            .clone()
    };
    match verdict {
        None => Ok(()),
        Some((file, change)) => Err(HarnessError::StaleMigrations {
            file,
            change,
            dir: watched_dir(Path::new(dir)),
        }),
    }
}

/// The first difference between `migrator` and the `.sql` files of `dir`, by file name.
fn compare(migrator: &Migrator, dir: &Path) -> Verdict {
    let on_disk = read_dir(dir)?;
    let embedded: BTreeMap<(i64, Kind), &str> = migrator
        .iter()
        .map(|m| ((m.version, Kind::of(m.migration_type)), m.sql.as_str()))
        .collect();
    for ((version, kind), (path, sql)) in &on_disk {
        match embedded.get(&(*version, *kind)) {
            None => return Some(found(path, "added")),
            Some(embedded_sql) if *embedded_sql != sql => return Some(found(path, "edited")),
            Some(_) => {}
        }
    }
    embedded
        .keys()
        .find(|key| !on_disk.contains_key(key))
        .map(|(version, kind)| {
            let pattern = dir.join(format!("{version}_*{}", kind.suffix()));
            found(&pattern, "removed")
        })
}

fn found(path: &Path, change: &'static str) -> (String, &'static str) {
    (path.display().to_string(), change)
}

/// The migration files of `dir` by version and kind, as `sqlx::migrate!` reads them; `None`
/// when the directory cannot be read.
fn read_dir(dir: &Path) -> Option<BTreeMap<(i64, Kind), (PathBuf, String)>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((version, kind)) = parse_name(name) else {
            continue;
        };
        // An unreadable file is left to the migration run to report.
        if let Ok(sql) = std::fs::read_to_string(&path) {
            files.insert((version, kind), (path, sql));
        }
    }
    Some(files)
}

/// `<version>_<description>.sql`, `.up.sql` or `.down.sql`, as sqlx names migrations.
fn parse_name(name: &str) -> Option<(i64, Kind)> {
    let stem = name.strip_suffix(".sql")?;
    let (stem, kind) = if let Some(stem) = stem.strip_suffix(".up") {
        (stem, Kind::Up)
    } else if let Some(stem) = stem.strip_suffix(".down") {
        (stem, Kind::Down)
    } else {
        (stem, Kind::Simple)
    };
    let version = stem.split_once('_')?.0.parse().ok()?;
    Some((version, kind))
}

/// The file kinds sqlx tells apart; a simple and a reversible up migration are both "up".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Simple,
    Up,
    Down,
}

impl Kind {
    fn of(migration_type: MigrationType) -> Self {
        match migration_type {
            MigrationType::Simple => Self::Simple,
            MigrationType::ReversibleUp => Self::Up,
            MigrationType::ReversibleDown => Self::Down,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Simple => ".sql",
            Self::Up => ".up.sql",
            Self::Down => ".down.sql",
        }
    }
}

/// `dir` relative to the crate under test (what `rerun-if-changed` takes), when cargo says
/// where that is; else as it is.
fn watched_dir(dir: &Path) -> String {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|root| dir.strip_prefix(root).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| dir.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::Migration;

    use super::*;

    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("persistence-stale-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create");
        std::fs::write(dir.join("1_a.sql"), "CREATE TABLE a ();").expect("write");
        std::fs::write(dir.join("2_b.up.sql"), "CREATE TABLE b ();").expect("write");
        std::fs::write(dir.join("2_b.down.sql"), "DROP TABLE b;").expect("write");
        std::fs::write(dir.join("README.md"), "not a migration").expect("write");
        Scratch(dir)
    }

    fn migrator() -> Migrator {
        let migration = |version, kind, sql: &'static str| {
            Migration::new(version, "m".into(), kind, sql.into_sql_str(), false)
        };
        Migrator::with_migrations(vec![
            migration(1, MigrationType::Simple, "CREATE TABLE a ();"),
            migration(2, MigrationType::ReversibleUp, "CREATE TABLE b ();"),
            migration(2, MigrationType::ReversibleDown, "DROP TABLE b;"),
        ])
    }

    #[test]
    fn the_same_files_are_fresh() {
        let dir = scratch("same");
        assert_eq!(compare(&migrator(), &dir.0), None);
    }

    #[test]
    fn added_edited_and_removed_files_are_named() {
        let dir = scratch("changes");
        std::fs::write(dir.0.join("3_c.sql"), "CREATE TABLE c ();").expect("write");
        let (file, change) = compare(&migrator(), &dir.0).expect("stale");
        assert_eq!(
            (file.as_str(), change),
            (dir.0.join("3_c.sql").to_str().expect("utf-8"), "added")
        );

        std::fs::remove_file(dir.0.join("3_c.sql")).expect("remove");
        std::fs::write(dir.0.join("2_b.up.sql"), "CREATE TABLE b (x int);").expect("write");
        let (file, change) = compare(&migrator(), &dir.0).expect("stale");
        assert!(
            file.ends_with("2_b.up.sql") && change == "edited",
            "{file} {change}"
        );

        std::fs::write(dir.0.join("2_b.up.sql"), "CREATE TABLE b ();").expect("write");
        std::fs::remove_file(dir.0.join("2_b.down.sql")).expect("remove");
        let (file, change) = compare(&migrator(), &dir.0).expect("stale");
        assert!(
            file.ends_with("2_*.down.sql") && change == "removed",
            "{file} {change}"
        );
    }

    #[test]
    fn a_missing_directory_is_not_checked() {
        assert_eq!(
            compare(
                &migrator(),
                Path::new("/nonexistent/persistence/migrations")
            ),
            None
        );
    }

    #[test]
    fn the_error_is_one_line_naming_the_file_and_the_fix() {
        let error = HarnessError::StaleMigrations {
            file: "/w/notes/migrations/2_add_title.sql".into(),
            change: "added",
            dir: "migrations".into(),
        };
        let text = error.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("migration /w/notes/migrations/2_add_title.sql was added after this test binary was built"),
            "{text}"
        );
        assert!(
            text.contains("println!(\"cargo:rerun-if-changed=migrations\")"),
            "{text}"
        );
        assert!(text.contains("persistence init"), "{text}");
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_name("20250101000000_notes.sql"),
            Some((20250101000000, Kind::Simple))
        );
        assert_eq!(parse_name("3_x.up.sql"), Some((3, Kind::Up)));
        assert_eq!(parse_name("3_x.down.sql"), Some((3, Kind::Down)));
        assert_eq!(parse_name("notes.sql"), None);
        assert_eq!(parse_name("3_x.txt"), None);
    }
}
