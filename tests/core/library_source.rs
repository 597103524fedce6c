//! The library knows nothing of the example application, and nothing of it is checked
//! against a user's database:
//!
//! - no line of the library (its Rust sources with their comments and doc examples, the
//!   Markdown files included as docs, and the README, which is the crate's front page) names
//!   a table of the page-builder schema (`examples/page-builder/migrations`) in SQL or as a
//!   fixture;
//! - no code of the library is a compile-time checked query (`query!`, `query_as!`, ...,
//!   `migrate!`): sqlx checks those against `DATABASE_URL` when the crate is compiled, so a
//!   user's database would decide whether the library builds.
//!
//! The matchers are tested on made-up text first, so a pass of the real check means
//! something.

use std::path::{Path, PathBuf};

use super::rust_paths::code_only;

/// The tables of the example application's schema.
const EXAMPLE_TABLES: &[&str] = &[
    "health_check",
    "users",
    "sites",
    "pages",
    "page_versions",
    "blocks",
];

/// SQL keywords a table name follows (as written in this code base: upper case).
const BEFORE_A_TABLE: &[&str] = &[
    "FROM",
    "INTO",
    "UPDATE",
    "JOIN",
    "TABLE",
    "REFERENCES",
    "TRUNCATE",
];

/// sqlx's macros that are checked at compile time, against `DATABASE_URL` (or `.sqlx/`).
const CHECKED_MACROS: &[&str] = &[
    "query",
    "query_as",
    "query_scalar",
    "query_file",
    "query_file_as",
    "query_file_scalar",
    "query_unchecked",
    "query_as_unchecked",
    "query_scalar_unchecked",
    "query_file_unchecked",
    "query_file_as_unchecked",
    "migrate",
];

/// The words of `text` (letters, digits, `_`), each with its line.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for word in line.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                out.push((number + 1, word));
            }
        }
    }
    out
}

/// Where `text` names an example table: after an SQL keyword, or as a fixture (`"users"` in a
/// `fixtures(...)` list, `fixtures/users.sql`).
fn table_mentions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let words = words(text);
    for pair in words.windows(2) {
        let ((line, keyword), (_, name)) = (pair[0], pair[1]);
        if BEFORE_A_TABLE.contains(&keyword) && EXAMPLE_TABLES.contains(&name) {
            found.push(format!("{line}: {keyword} {name}"));
        }
    }
    for (number, line) in text.lines().enumerate() {
        let fixture_list = line.contains("fixtures(") || line.contains("scripts(");
        for table in EXAMPLE_TABLES {
            let quoted = fixture_list && line.contains(&format!("\"{table}\""));
            if quoted || line.contains(&format!("/{table}.sql")) {
                found.push(format!("{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

/// Where the code of `source` (comments and strings left out) invokes a checked macro.
fn checked_queries(source: &str) -> Vec<String> {
    let code = code_only(source);
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find('!') {
            let before = rest[..at].trim_end();
            let name_start = before
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &before[name_start..];
            let invoked = rest[at + 1..].trim_start().starts_with(['(', '[', '{']);
            if invoked && CHECKED_MACROS.contains(&name) {
                found.push(format!("{}: {}!", number + 1, name));
            }
            rest = &rest[at + 1..];
        }
    }
    found
}

/// The library's sources: its modules (not the command's, which has a package of its own),
/// the Markdown included as docs, the README and the pages of `docs/` it links (packaged
/// with the library).
fn library_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("src/lib.rs")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut pending: Vec<PathBuf> = ["postgres", "ephemeral", "testing"]
        .iter()
        .map(|layer| root.join("src").join(layer))
        .collect();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                files.push(path);
            }
        }
    }
    for entry in std::fs::read_dir(root.join("src")).expect("src/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn the_library_names_no_table_of_the_example_application() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = library_files();
    assert!(files.len() > 50, "only {} files found", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for mention in table_mentions(&text) {
            let relative = file.strip_prefix(root).unwrap_or(file);
            problems.push(format!("{}:{mention}", relative.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_library_has_no_compile_time_checked_query() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for file in library_files()
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let source = std::fs::read_to_string(file).expect("read a source file");
        for call in checked_queries(&source) {
            let relative = file.strip_prefix(root).unwrap_or(file);
            problems.push(format!("{}:{call}", relative.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_matchers_catch_what_they_look_for() {
    assert_eq!(
        table_mentions("let n = sqlx::query(\"SELECT count(*) FROM users\");\n"),
        ["1: FROM users"]
    );
    assert_eq!(
        table_mentions("x\n/// INSERT INTO page_versions (page_id) VALUES (1)\n"),
        ["2: INTO page_versions"]
    );
    assert_eq!(
        table_mentions("#[db_test(fixtures(\"sites\"))]\n"),
        ["1: #[db_test(fixtures(\"sites\"))]"]
    );
    assert_eq!(
        table_mentions("see fixtures/blocks.sql\n"),
        ["1: see fixtures/blocks.sql"]
    );
    // Prose and other names pass: the users lock, tables of other schemas.
    assert!(table_mentions("every process that uses the server holds users.lock\n").is_empty());
    assert!(table_mentions("SELECT name FROM customers; -- users of sqlx\n").is_empty());

    assert_eq!(
        checked_queries("let row = sqlx::query_as!(Row, \"SELECT 1\");\n"),
        ["1: query_as!"]
    );
    assert_eq!(
        checked_queries("static M: Migrator = sqlx::migrate!();\n"),
        ["1: migrate!"]
    );
    // Mentions in comments and strings, and unchecked functions, pass.
    assert!(
        checked_queries(
            "// sqlx::query!(\"...\") would be checked\nlet q = sqlx::query(\"SELECT 1\");\nlet s = \"query!(x)\";\n"
        )
        .is_empty()
    );
}
