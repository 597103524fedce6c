//! The tests' own small schema (`tests/cli/migrations`: users, blogs, posts, revisions) and
//! its fixtures (`tests/cli/fixtures`). `#[db_test]`s name the directory themselves
//! (`migrations = "tests/cli/migrations"`) and find the fixtures beside their source file.

use std::path::{Path, PathBuf};

/// How many migrations the schema has.
pub const MIGRATIONS: usize = 4;

/// The migrations directory.
pub fn migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/migrations")
}

/// The fixture `name` (`users`, `blogs`, `posts`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cli/fixtures/{name}.sql"))
}

/// A copy of the migrations in `dir/migrations` that a test may change.
pub fn copy_migrations(dir: &Path) -> PathBuf {
    let copy = dir.join("migrations");
    std::fs::create_dir_all(&copy).expect("create");
    for entry in std::fs::read_dir(migrations()).expect("migrations") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, copy.join(path.file_name().expect("name"))).expect("copy");
    }
    copy
}

/// The migrations directory as a command-line argument.
pub fn migrations_arg() -> String {
    migrations().to_str().expect("a UTF-8 path").to_owned()
}
