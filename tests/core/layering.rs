//! The layering, checked on the source: `postgres` <- `ephemeral` <- `testing` (stated in
//! `src/ephemeral/mod.rs`), and inside `testing` the folders by job: `sql` <- `queries` <-
//! `schema` <- `pool` and `session.rs` (which use each other) <- `run`. A lower layer's files
//! name no path into a higher one, however the path is spelt (`crate::`, `super::super::`,
//! `persistence::`, a `use` group); comments and string literals that merely mention a layer
//! do not count. The reading of paths is [`super::rust_paths`]'s.
//!
//! The matcher is tested on made-up source text first, so a pass of the real check means
//! something: it would have caught a violation.

use std::path::Path;

use super::rust_paths::{module_of, references, rust_files};

/// A lower layer (a folder or a file under `src/`) and the modules it must not use.
const RULES: &[(&str, &[&str])] = &[
    ("postgres", &["ephemeral", "testing"]),
    ("ephemeral", &["testing"]),
    (
        "testing/sql",
        &[
            "testing::queries",
            "testing::schema",
            "testing::pool",
            "testing::session",
            "testing::run",
        ],
    ),
    (
        "testing/queries",
        &[
            "testing::schema",
            "testing::pool",
            "testing::session",
            "testing::run",
        ],
    ),
    (
        "testing/schema",
        &["testing::pool", "testing::session", "testing::run"],
    ),
    ("testing/pool", &["testing::run"]),
    ("testing/session.rs", &["testing::run"]),
];

/// The names the library also goes by inside itself (its doc examples and macros).
const OWN_NAMES: &[&str] = &["persistence"];

/// One path in the source that reaches a module the file's layer must not use.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    line: usize,
    /// The path as resolved from the crate root, e.g. `crate::testing::TestDb`.
    path: String,
}

/// The paths of `source` (the file of `module`) that reach one of `forbidden` (module paths
/// such as `testing::run`).
fn violations(module: &[String], source: &str, forbidden: &[&str]) -> Vec<Violation> {
    references(module, source, OWN_NAMES)
        .into_iter()
        .filter(|reference| {
            forbidden.iter().any(|higher| {
                let higher: Vec<&str> = higher.split("::").collect();
                reference.path.len() >= higher.len()
                    && reference.path.iter().zip(&higher).all(|(a, b)| a == b)
            })
        })
        .map(|reference| Violation {
            line: reference.line,
            path: format!("crate::{}", reference.path.join("::")),
        })
        .collect()
}

/// The files of the layer `layer` (a folder or a file under `src`).
fn layer_files(src: &Path, layer: &str) -> Vec<std::path::PathBuf> {
    let path = src.join(layer);
    // A layer moved elsewhere must be followed here, not checked vacuously.
    assert!(
        path.exists(),
        "src/{layer} is gone: has the layer moved? Follow it in RULES"
    );
    if path.is_dir() {
        rust_files(&path)
    } else {
        vec![path]
    }
}

#[test]
fn no_lower_layer_uses_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (layer, forbidden) in RULES {
        for file in layer_files(&src, layer) {
            let relative = file.strip_prefix(&src).expect("under src");
            let source = std::fs::read_to_string(&file).expect("read a source file");
            checked += 1;
            for violation in violations(&module_of(relative), &source, forbidden) {
                problems.push(format!(
                    "src/{}:{}: {} (src/{layer} must not use {})",
                    relative.display(),
                    violation.line,
                    violation.path,
                    forbidden.join(" or ")
                ));
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} files found under {}",
        src.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn module(path: &str) -> Vec<String> {
    module_of(Path::new(path))
}

/// What the check finds in `source`, the file `file` under `src/`, by the rule of its layer.
fn caught(file: &str, source: &str) -> Vec<String> {
    let (_, forbidden) = RULES
        .iter()
        .find(|(layer, _)| file == *layer || file.starts_with(&format!("{layer}/")))
        .expect("a file of a layer");
    violations(&module(file), source, forbidden)
        .into_iter()
        .map(|v| format!("{}:{}", v.line, v.path))
        .collect()
}

#[test]
fn module_paths_follow_the_file_layout() {
    assert_eq!(module("postgres/client.rs"), ["postgres", "client"]);
    assert_eq!(module("postgres/config/mod.rs"), ["postgres", "config"]);
    assert_eq!(
        module("ephemeral/native/cluster.rs"),
        ["ephemeral", "native", "cluster"]
    );
    assert_eq!(module("lib.rs"), Vec::<String>::new());
    assert_eq!(module("testing/session.rs"), ["testing", "session"]);
}

#[test]
fn the_matcher_keeps_testings_folders_in_their_order() {
    assert_eq!(
        caught(
            "testing/pool/database.rs",
            "use crate::testing::run::runtime::{Home, home};\n"
        ),
        [
            "1:crate::testing::run::runtime::Home",
            "1:crate::testing::run::runtime::home"
        ]
    );
    assert_eq!(
        caught("testing/pool/mod.rs", "use super::run::TestDb;\n"),
        ["1:crate::testing::run::TestDb"]
    );
    assert_eq!(
        caught(
            "testing/session.rs",
            "fn f() { super::run::runtime::home(); }\n"
        ),
        ["1:crate::testing::run::runtime::home"]
    );
    assert_eq!(
        caught("testing/sql/text.rs", "use crate::testing::pool::leases;\n"),
        ["1:crate::testing::pool::leases"]
    );
    assert_eq!(
        caught(
            "testing/schema/template.rs",
            "use crate::testing::session::Session;\n"
        ),
        ["1:crate::testing::session::Session"]
    );
    // Lower folders, a name that only starts like a higher one, and the layer itself pass.
    assert_eq!(
        caught(
            "testing/pool/reset.rs",
            "use super::super::session::Session;\nuse crate::testing::sql::execute;\n\
             use crate::testing::runner;\nuse super::leases::Lease;\n"
        ),
        Vec::<String>::new()
    );
}

#[test]
fn the_matcher_catches_every_spelling_of_a_higher_layer() {
    assert_eq!(
        caught("postgres/client.rs", "use crate::testing::TestDb;\n"),
        ["1:crate::testing::TestDb"]
    );
    assert_eq!(
        caught(
            "postgres/client.rs",
            "use std::fmt;\nuse crate::{postgres::Error, ephemeral::{self, Server}};\n"
        ),
        ["2:crate::ephemeral::self", "2:crate::ephemeral::Server"]
    );
    assert_eq!(
        caught(
            "postgres/client.rs",
            "fn f() {\n    let s = crate::ephemeral::server();\n}\n"
        ),
        ["2:crate::ephemeral::server"]
    );
    // postgres::client -> super is postgres, super::super the crate root.
    assert_eq!(
        caught("postgres/client.rs", "use super::super::testing::run;\n"),
        ["1:crate::testing::run"]
    );
    assert_eq!(
        caught(
            "postgres/config/params.rs",
            "use super::super::super::ephemeral;\n"
        ),
        ["1:crate::ephemeral"]
    );
    assert_eq!(
        caught("postgres/health.rs", "use persistence::testing::TestDb;\n"),
        ["1:crate::testing::TestDb"]
    );
    assert_eq!(
        caught(
            "ephemeral/join.rs",
            "pub(crate) use crate::testing::names;\n"
        ),
        ["1:crate::testing::names"]
    );
    // An inline module is one level deeper: its `super::super` is the crate root here.
    assert_eq!(
        caught(
            "postgres/mod.rs",
            "mod tests {\n    use super::super::testing::TestDb;\n}\n"
        ),
        ["2:crate::testing::TestDb"]
    );
}

#[test]
fn the_matcher_lets_allowed_paths_comments_and_strings_pass() {
    let allowed = r###"
//! Uses crate::testing? No: this comment only mentions crate::testing and crate::ephemeral.
/* a block comment: use crate::testing::TestDb; /* nested: crate::ephemeral */ still */
/// A doc line naming `crate::ephemeral::server`.
use crate::postgres::{Error, config};
use super::health::probe;
use crate::postgres::testing_helpers;
const HINT: &str = "use crate::testing::TestDb in your tests";
const RAW: &str = r#"crate::ephemeral::server() and "crate::testing""#;
const BYTES: &[u8] = b"crate::testing";
const QUOTE: char = '"';
fn f<'a>(x: &'a str) -> &'a str { let _ = "crate::testing"; x }
mod tests {
    use super::*;
    use super::super::config;
}
"###;
    assert_eq!(caught("postgres/client.rs", allowed), Vec::<String>::new());
    // The ephemeral layer may use the postgres layer and itself.
    assert_eq!(
        caught(
            "ephemeral/native/cluster.rs",
            "use crate::postgres::Error;\nuse super::super::state_dir::StateDir;\nuse crate::ephemeral::platform;\n"
        ),
        Vec::<String>::new()
    );
    // Line numbers survive blanked comments and strings.
    assert_eq!(
        caught(
            "postgres/client.rs",
            "/* one\ntwo */ const S: &str = \"x\ny\";\nuse crate::testing;\n"
        ),
        ["4:crate::testing"]
    );
}
