//! The layering `postgres` <- `ephemeral` <- `testing` (stated in `src/ephemeral/mod.rs`),
//! checked on the source: no file under `src/postgres/` names `crate::ephemeral` or
//! `crate::testing`, and no file under `src/ephemeral/` names `crate::testing`, however the
//! path is spelt (`crate::`, `super::super::`, `persistence::`, a `use` group). Comments and
//! string literals that merely mention a layer do not count.
//!
//! The matcher is tested on made-up source text first, so a pass of the real check means
//! something: it would have caught a violation.

use std::path::{Path, PathBuf};

/// A lower layer and the layers it must not use.
const RULES: &[(&str, &[&str])] = &[
    ("postgres", &["ephemeral", "testing"]),
    ("ephemeral", &["testing"]),
];

/// One path in the source that reaches a layer the file's layer must not use.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    line: usize,
    /// The path as resolved from the crate root, e.g. `crate::testing::TestDb`.
    path: String,
}

/// The module path of a file under `src/`: `postgres/config/mod.rs` is `postgres::config`,
/// `postgres/client.rs` is `postgres::client`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_owned();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

/// The source with comments, string, byte-string and char literals blanked out (line breaks
/// kept, so line numbers still hold).
pub(crate) fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"..", r#".."#, br#".."#: ends at a quote followed by as many hashes.
            let open = i + chars[i..].iter().position(|&c| c == '"').unwrap_or(0);
            while i <= open {
                blank(&mut out, chars[i]);
                i += 1;
            }
            while i < chars.len() {
                let closes =
                    chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                if closes {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' || (c == '\'' && is_char_literal(&chars, i)) {
            i = blank_quoted(&chars, i, &mut out);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blanks the string or char literal opening at `i` (escapes included) into `out`; returns
/// the index after it.
fn blank_quoted(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let quote = chars[i];
    out.push(' ');
    i += 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            out.push(' ');
            i += 1;
        }
        if i < chars.len() {
            out.push(if chars[i] == '\n' { '\n' } else { ' ' });
            i += 1;
        }
    }
    if i < chars.len() {
        out.push(' ');
        i += 1;
    }
    i
}

/// At a raw string's `r` (or `br`): the number of its hashes.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let after_prefix = match chars.get(i..i + 2) {
        Some(['b', 'r']) => i + 2,
        Some(['r', _]) => i + 1,
        _ => return None,
    };
    // Not the end of an identifier such as `bar"`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let hashes = chars[after_prefix..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (chars.get(after_prefix + hashes) == Some(&'"')).then_some(hashes)
}

/// Whether the quote at `i` opens a char literal (`'a'`, `'\n'`) rather than a lifetime.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// Identifiers, `::`, braces and commas, each with its line.
fn tokens(code: &str) -> Vec<(usize, Token)> {
    let mut out = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let token = if c.is_alphabetic() || c == '_' || c == '$' {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((number + 1, Token::Ident(chars[start..i].iter().collect())));
                continue;
            } else if c == ':' && chars.get(i + 1) == Some(&':') {
                i += 1;
                Token::PathSep
            } else if c == '{' {
                Token::Open
            } else if c == '}' {
                Token::Close
            } else if c == ',' {
                Token::Comma
            } else if c.is_whitespace() {
                i += 1;
                continue;
            } else {
                Token::Other
            };
            out.push((number + 1, token));
            i += 1;
        }
    }
    out
}

/// The paths starting at `tokens[at]` (`a::b::{c, d::e}` gives `a::b::c` and `a::b::d::e`),
/// and the index after them.
fn paths_at(tokens: &[(usize, Token)], at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = at;
    loop {
        match tokens.get(i) {
            Some((_, Token::Ident(name))) => {
                prefix.push(name.clone());
                i += 1;
            }
            Some((_, Token::Open)) => {
                let mut all = Vec::new();
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some((_, Token::Close)) => return (all, i + 1),
                        Some((_, Token::Comma)) => i += 1,
                        Some(_) => {
                            let (inner, after) = paths_at(tokens, i);
                            all.extend(inner.into_iter().map(|tail| {
                                let mut path = prefix.clone();
                                path.extend(tail);
                                path
                            }));
                            i = after.max(i + 1);
                        }
                        None => return (all, i),
                    }
                }
            }
            _ => return (vec![prefix], i),
        }
        if tokens.get(i).map(|(_, t)| t) == Some(&Token::PathSep) {
            i += 1;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// `path` as seen from `module`, from the crate root (`None`: not a path into this crate).
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" | "$crate" | "persistence" => Some(rest.to_vec()),
        "self" => {
            let mut resolved = module.to_vec();
            resolved.extend(rest.iter().cloned());
            Some(resolved)
        }
        "super" => {
            let mut base = module.to_vec();
            base.pop()?;
            let mut rest = rest;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

/// The paths of `source` (the file of `module`) that reach one of `forbidden`, the layers
/// below the crate root. Inline modules (`mod tests { .. }`) are followed, so `super` in
/// them is resolved from where it stands.
fn violations(module: &[String], source: &str, forbidden: &[&str]) -> Vec<Violation> {
    let tokens = tokens(&code_only(source));
    let mut found = Vec::new();
    // The inline modules open at this point, with the brace depth each was opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = &tokens[i];
        match token {
            Token::Open => {
                depth += 1;
                i += 1;
            }
            Token::Close => {
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((_, Token::Ident(name))), Some((_, Token::Open))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                    depth += 1;
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Token::Ident(word)
                if matches!(
                    word.as_str(),
                    "crate" | "$crate" | "persistence" | "self" | "super"
                ) && tokens.get(i + 1).map(|(_, t)| t) == Some(&Token::PathSep) =>
            {
                // A path preceded by `::` is the tail of another path, not a start.
                if i > 0 && tokens[i - 1].1 == Token::PathSep {
                    i += 1;
                    continue;
                }
                let mut here = module.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let (paths, after) = paths_at(&tokens, i);
                for path in paths {
                    let reaches = resolve(&here, &path).is_some_and(|resolved| {
                        resolved
                            .first()
                            .is_some_and(|top| forbidden.contains(&top.as_str()))
                    });
                    if reaches {
                        let resolved = resolve(&here, &path).unwrap_or_default();
                        found.push(Violation {
                            line: *line,
                            path: format!("crate::{}", resolved.join("::")),
                        });
                    }
                }
                i = after.max(i + 1);
            }
            _ => i += 1,
        }
    }
    found
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_lower_layer_uses_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (layer, forbidden) in RULES {
        let files = rust_files(&src.join(layer));
        // A layer moved elsewhere must be followed here, not checked vacuously.
        assert!(
            files.len() > 3,
            "src/{layer} holds {} Rust files: has the layer moved?",
            files.len()
        );
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let source = std::fs::read_to_string(&file).expect("read a source file");
            checked += 1;
            for violation in violations(&module_of(relative), &source, forbidden) {
                problems.push(format!(
                    "src/{}:{}: {} (the {layer} layer must not use {})",
                    relative.display(),
                    violation.line,
                    violation.path,
                    forbidden.join(" or ")
                ));
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} files found under {}",
        src.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn module(path: &str) -> Vec<String> {
    module_of(Path::new(path))
}

fn caught(file: &str, source: &str) -> Vec<String> {
    let forbidden = if file.starts_with("postgres") {
        &["ephemeral", "testing"][..]
    } else {
        &["testing"][..]
    };
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
            "ephemeral/shared.rs",
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
