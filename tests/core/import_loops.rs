//! No two files of a member crate's `src/` import each other, directly or through a loop:
//! dependencies between files point one way, so a file can be read, changed and tested with
//! only what is below it.
//!
//! A file imports another when it names a path into its crate (`crate::`, `super::`,
//! `self::`; see [`super::rust_paths`]) whose longest module prefix is the other file:
//! `crate::testing::pool::leases::Lease` is `src/testing/pool/leases.rs`, and
//! `crate::testing::TestDb` is `src/testing/mod.rs`, where it is re-exported, not the file
//! that defines it (a textual scan does not follow re-exports, globs or aliases).
//!
//! A module's paths into its own descendants are not imports: a `mod.rs` (or `lib.rs`,
//! `main.rs`) is the table of contents of its children, declaring and re-exporting them, so
//! `pub use self::builder::PgConfigBuilder` next to a child's `use super::PgConfig` is no
//! loop. The price: a `mod.rs` whose own code uses a child that uses the `mod.rs` back is not
//! caught; keep code that children share out of `mod.rs` to keep that true too. A child's
//! path to its parent (`super::X`) and every path between siblings and cousins counts.
//!
//! The loop finder is tested on made-up files first, so a pass of the real check means
//! something.

use std::collections::BTreeMap;
use std::path::Path;

use super::rust_paths::{module_of, references, rust_files};

/// The names a member crate also goes by inside itself (`persistence::` in the library);
/// `crate::`, `self::` and `super::` count for every member.
const OWN_NAMES: &[(&str, &[&str])] = &[(".", &["persistence"])];

/// One import of a file by another: where it is written, and the path as written from the
/// crate root.
#[derive(Debug, Clone)]
struct Import {
    line: usize,
    path: String,
}

/// The file-level import graph of one crate: the files by their path under `src/`, and for
/// each pair (importer, imported) the first import that makes the edge.
struct Graph {
    files: Vec<String>,
    edges: BTreeMap<(usize, usize), Import>,
}

impl Graph {
    /// The graph of `files` (their path under `src/` and their source).
    fn of(files: &[(String, String)], own_names: &[&str]) -> Self {
        let modules: Vec<Vec<String>> = files
            .iter()
            .map(|(path, _)| module_of(Path::new(path)))
            .collect();
        let mut edges = BTreeMap::new();
        for (from, (_, source)) in files.iter().enumerate() {
            for reference in references(&modules[from], source, own_names) {
                let Some(to) = file_of(&modules, &reference.path) else {
                    continue;
                };
                // A module's paths into itself and its own descendants are its table of
                // contents (declaring, re-exporting and using its children), not an import.
                if !modules[to].starts_with(&modules[from]) {
                    edges.entry((from, to)).or_insert_with(|| Import {
                        line: reference.line,
                        path: written(&reference.path),
                    });
                }
            }
        }
        Self {
            files: files.iter().map(|(path, _)| path.clone()).collect(),
            edges,
        }
    }

    fn successors(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges
            .range((from, 0)..=(from, usize::MAX))
            .map(|(&(_, to), _)| to)
    }

    /// Each loop, as its files (strongly connected components of more than one file, found
    /// with Tarjan's algorithm), in the order of `files`.
    fn loops(&self) -> Vec<Vec<usize>> {
        struct Walk<'g> {
            graph: &'g Graph,
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            found: Vec<Vec<usize>>,
        }
        impl Walk<'_> {
            fn visit(&mut self, v: usize) {
                self.index[v] = Some(self.next);
                self.low[v] = self.next;
                self.next += 1;
                self.stack.push(v);
                self.on_stack[v] = true;
                let successors: Vec<usize> = self.graph.successors(v).collect();
                for w in successors {
                    match self.index[w] {
                        None => {
                            self.visit(w);
                            self.low[v] = self.low[v].min(self.low[w]);
                        }
                        Some(index) if self.on_stack[w] => self.low[v] = self.low[v].min(index),
                        Some(_) => {}
                    }
                }
                if Some(self.low[v]) == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort_unstable();
                        self.found.push(component);
                    }
                }
            }
        }
        let n = self.files.len();
        let mut walk = Walk {
            graph: self,
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            found: Vec::new(),
        };
        for v in 0..n {
            if walk.index[v].is_none() {
                walk.visit(v);
            }
        }
        walk.found.sort();
        walk.found
    }

    /// One shortest way round the loop `component` from its first file, as the imports that
    /// make it: `a.rs:3 crate::b::X -> b.rs:7 crate::a::Y -> a.rs`.
    fn describe(&self, component: &[usize]) -> String {
        let start = component[0];
        // Breadth-first inside the component, back to `start`.
        let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(v) = queue.pop_front() {
            for w in self.successors(v) {
                if !component.contains(&w) || came_from.contains_key(&w) {
                    continue;
                }
                came_from.insert(w, v);
                if w == start {
                    break 'search;
                }
                queue.push_back(w);
            }
        }
        let mut way = vec![start];
        let mut at = start;
        while let Some(&before) = came_from.get(&at) {
            way.push(before);
            at = before;
            if at == start {
                break;
            }
        }
        way.reverse();
        let mut text = String::new();
        for pair in way.windows(2) {
            let import = &self.edges[&(pair[0], pair[1])];
            text.push_str(&format!(
                "{}:{} {} -> ",
                self.files[pair[0]], import.line, import.path
            ));
        }
        text.push_str(&self.files[start]);
        let names: Vec<&str> = component.iter().map(|&f| self.files[f].as_str()).collect();
        format!(
            "{} files import each other ({}): {text}",
            component.len(),
            names.join(", ")
        )
    }
}

/// `path` (from the crate root) as a `use` names it: `crate::a::b`, `crate::a` for
/// `crate::a::{self}`.
fn written(path: &[String]) -> String {
    let path = path.strip_suffix(&["self".to_owned()]).unwrap_or(path);
    format!("crate::{}", path.join("::"))
}

/// The file of `path` (from the crate root): the one whose module is its longest prefix.
fn file_of(modules: &[Vec<String>], path: &[String]) -> Option<usize> {
    modules
        .iter()
        .enumerate()
        .filter(|(_, module)| path.starts_with(module))
        .max_by_key(|(_, module)| module.len())
        .map(|(file, _)| file)
}

/// Every loop among `files` (path under `src/`, source), described.
fn loops_in(files: &[(String, String)], own_names: &[&str]) -> Vec<String> {
    let graph = Graph::of(files, own_names);
    graph
        .loops()
        .iter()
        .map(|component| graph.describe(component))
        .collect()
}

/// The workspace's members, as its `Cargo.toml` lists them.
fn members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let start = manifest
        .find("\nmembers =")
        .expect("a [workspace] members list");
    let list = &manifest[start..];
    let list = &list[list.find('[').expect("members = [")..=list.find(']').expect("]")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let members = members(root);
    // A member list that could not be read must not pass as "no loops".
    assert!(members.len() >= 4, "workspace members: {members:?}");
    let mut problems = Vec::new();
    for member in &members {
        let src = root.join(member).join("src");
        let files: Vec<(String, String)> = rust_files(&src)
            .into_iter()
            .map(|file| {
                let relative = file.strip_prefix(&src).expect("under src");
                let source = std::fs::read_to_string(&file).expect("read a source file");
                (relative.to_string_lossy().replace('\\', "/"), source)
            })
            .collect();
        assert!(!files.is_empty(), "{} holds no Rust file", src.display());
        let own_names = OWN_NAMES
            .iter()
            .find(|(name, _)| name == member)
            .map_or(&[][..], |(_, names)| names);
        for found in loops_in(&files, own_names) {
            let src = Path::new(member).join("src");
            let src = src.strip_prefix(".").unwrap_or(&src);
            problems.push(format!("in {}: {found}", src.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "files that import each other (move what they share to one home, below both):\n{}",
        problems.join("\n")
    );
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(path, source)| ((*path).to_owned(), (*source).to_owned()))
        .collect()
}

#[test]
fn the_finder_names_a_loop_of_two_files_and_its_imports() {
    let found = loops_in(
        &files(&[
            ("lib.rs", "mod seed;\nmod token;\n"),
            ("seed.rs", "use crate::token::unique;\n"),
            ("token.rs", "fn f() {}\n\nfn g() { super::seed::rng(); }\n"),
        ]),
        &[],
    );
    assert_eq!(
        found,
        ["2 files import each other (seed.rs, token.rs): \
          seed.rs:1 crate::token::unique -> token.rs:3 crate::seed::rng -> seed.rs"]
    );
}

#[test]
fn the_finder_follows_a_longer_loop_through_nested_modules() {
    let found = loops_in(
        &files(&[
            (
                "main.rs",
                "mod error;\nmod generate;\nmod other;\nmod throwaway;\n",
            ),
            (
                "error.rs",
                "use crate::{generate::emit::GenerateError, other};\n",
            ),
            (
                "generate/mod.rs",
                "mod emit;\npub use emit::GenerateError;\n",
            ),
            (
                "generate/emit.rs",
                "use super::super::throwaway::Throwaway;\n",
            ),
            (
                "throwaway.rs",
                "fn f() -> crate::error::CliError { todo!() }\n",
            ),
            ("other.rs", "pub struct Other;\n"),
        ]),
        &[],
    );
    assert_eq!(
        found,
        [
            "3 files import each other (error.rs, generate/emit.rs, throwaway.rs): \
          error.rs:1 crate::generate::emit::GenerateError -> \
          generate/emit.rs:1 crate::throwaway::Throwaway -> \
          throwaway.rs:1 crate::error::CliError -> error.rs"
        ]
    );
}

#[test]
fn the_finder_lets_one_way_imports_inline_tests_and_comments_pass() {
    let found = loops_in(
        &files(&[
            ("lib.rs", "pub mod testing;\npub use testing::TestDb;\n"),
            (
                "testing/mod.rs",
                "mod pool;\nmod run;\npub use run::TestDb;\nuse pool::Lease;\n",
            ),
            ("testing/pool.rs", "use super::session::Session;\n"),
            (
                "testing/run.rs",
                "use super::pool::Lease;\nuse crate::testing::session;\n\
                 #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::run::X;\n}\n",
            ),
            // A parent's re-export of its child, however spelt, is no import of it.
            (
                "config/mod.rs",
                "mod builder;\npub use self::builder::Builder;\n\
                 pub use crate::config::builder::Layer;\npub struct PgConfig;\n",
            ),
            ("config/builder.rs", "use super::PgConfig;\n"),
            (
                "testing/session.rs",
                "// crate::testing::run::TestDb is built from this\n\
                 const S: &str = \"crate::testing::pool\";\nuse persistence::testing::run;\n",
            ),
        ]),
        &[],
    );
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_finder_counts_the_crates_own_name_only_where_it_is_one() {
    let sources = files(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use persistence::b::B;\n"),
        ("b.rs", "use crate::a::A;\n"),
    ]);
    assert_eq!(loops_in(&sources, &[]), Vec::<String>::new());
    assert_eq!(
        loops_in(&sources, &["persistence"]),
        ["2 files import each other (a.rs, b.rs): \
          a.rs:1 crate::b::B -> b.rs:1 crate::a::A -> a.rs"]
    );
}

#[test]
fn the_workspace_members_are_read_from_the_manifest() {
    let members = members(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(members.contains(&".".to_owned()), "{members:?}");
    assert!(members.contains(&"cli".to_owned()), "{members:?}");
    assert!(members.contains(&"macros".to_owned()), "{members:?}");
}
