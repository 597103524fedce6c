//! The paths into its own crate that a Rust source file names, read from the text: what the
//! layering and import-loop checks are built on.
//!
//! A path counts when it starts with `crate`, `$crate`, `self`, `super` or a name the crate
//! is known by inside itself (`persistence` in the library's doc examples and macros), in a
//! `use` (groups included) or anywhere in the code. Comments and string literals do not
//! count. Inline modules (`mod tests { .. }`) are followed, so `super` in them is resolved
//! from where it stands.
//!
//! Limits of a textual scan, each chosen: a path that starts with a child module's bare name
//! (`use leases::Lease` in `pool/mod.rs`) is not counted (a child is inside its parent's
//! layer, and a parent naming its children is no import, see `import_loops`); a name brought
//! in by a glob or an alias is not followed to its definition; tokens inside a macro call
//! (`quote!(crate::X)`) count like code.

use std::path::{Path, PathBuf};

/// A path of the crate named in a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) line: usize,
    /// The path from the crate root, without `crate`: `crate::testing::TestDb` is
    /// `["testing", "TestDb"]`.
    pub(crate) path: Vec<String>,
}

/// The module path of a file under `src/`: `postgres/config/mod.rs` is `postgres::config`,
/// `postgres/client.rs` is `postgres::client`, `lib.rs` and `main.rs` the crate root.
pub(crate) fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_owned();
        let root = parts.is_empty() && (stem == "lib" || stem == "main");
        if stem != "mod" && !root {
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

/// Whether `word` starts a path into the crate itself.
fn starts_in_crate(word: &str, own_names: &[&str]) -> bool {
    matches!(word, "crate" | "$crate" | "self" | "super") || own_names.contains(&word)
}

/// `path` as seen from `module`, from the crate root (`None`: not a path into this crate).
fn resolve(module: &[String], path: &[String], own_names: &[&str]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" | "$crate" => Some(rest.to_vec()),
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
        name if own_names.contains(&name) => Some(rest.to_vec()),
        _ => None,
    }
}

/// The paths into the crate that `source` (the file of `module`) names. `own_names` are the
/// names the crate also goes by inside itself (`persistence` for the library).
pub(crate) fn references(module: &[String], source: &str, own_names: &[&str]) -> Vec<Reference> {
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
                if starts_in_crate(word, own_names)
                    && tokens.get(i + 1).map(|(_, t)| t) == Some(&Token::PathSep) =>
            {
                // A path preceded by `::` is the tail of another path (or `::persistence`,
                // an external crate's), not a start.
                if i > 0 && tokens[i - 1].1 == Token::PathSep {
                    i += 1;
                    continue;
                }
                let mut here = module.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let (paths, after) = paths_at(&tokens, i);
                found.extend(paths.iter().filter_map(|path| {
                    let path = resolve(&here, path, own_names)?;
                    Some(Reference { line: *line, path })
                }));
                i = after.max(i + 1);
            }
            _ => i += 1,
        }
    }
    found
}

/// Every `.rs` file below `dir`, sorted.
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
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
