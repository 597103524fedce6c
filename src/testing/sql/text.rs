//! Where in a user's SQL file (a fixture, a migration) an error happened.
//!
//! PostgreSQL runs a whole file sent at once and stops at the first failing statement. Its
//! error says where only sometimes (a `position` for errors found while parsing or planning,
//! none for a violated constraint); sqlx's own Display adds `at line N`, which is a line of
//! PostgreSQL's C source. This finds the statement and its line in the file instead.

/// One statement of a SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    /// Its text, without the `;`.
    pub(crate) text: &'a str,
    /// The line of the file it starts on (1-based).
    pub(crate) line: usize,
    /// Where it starts and ends, in characters (as PostgreSQL counts positions).
    chars: std::ops::Range<usize>,
}

impl Statement<'_> {
    /// The statement on one line, shortened to `max` characters.
    pub(crate) fn one_line(&self, max: usize) -> String {
        let flat = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() <= max {
            flat
        } else {
            let cut: String = flat.chars().take(max).collect();
            format!("{cut}...")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Quoted(char),
    LineComment,
    BlockComment(u32),
}

/// The statements of `sql` in order, as PostgreSQL counts them: empty ones (only comments or
/// white space between two `;`) are not statements. Quotes, `$tag$` strings and comments are
/// skipped when looking for `;`.
pub(crate) fn split(sql: &str) -> Vec<Statement<'_>> {
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let mut statements = Vec::new();
    // (byte, char index, line) of the statement's first code character.
    let mut first: Option<(usize, usize, usize)> = None;
    let mut line = 1;
    let mut state = State::Code;
    let mut i = 0;
    while i < chars.len() {
        let (byte, c) = chars[i];
        let next = chars.get(i + 1).map(|(_, c)| *c);
        let mut step = 1;
        match state {
            State::Code => match c {
                ';' => {
                    push(&mut statements, sql, first.take(), byte, i);
                }
                '-' if next == Some('-') => state = State::LineComment,
                '/' if next == Some('*') => {
                    state = State::BlockComment(1);
                    step = 2;
                }
                c if c.is_whitespace() => {}
                c => {
                    first.get_or_insert((byte, i, line));
                    if c == '\'' || c == '"' {
                        state = State::Quoted(c);
                    } else if c == '$'
                        && let Some(tag_len) = dollar_tag(&chars[i..])
                    {
                        // Find the closing tag; the text between is opaque.
                        let tag: String = chars[i..i + tag_len].iter().map(|(_, c)| c).collect();
                        let mut j = i + tag_len;
                        while j < chars.len() {
                            let candidate: String = chars[j..(j + tag_len).min(chars.len())]
                                .iter()
                                .map(|(_, c)| c)
                                .collect();
                            if candidate == tag {
                                break;
                            }
                            j += 1;
                        }
                        let close = (j + tag_len).min(chars.len());
                        line += chars[i..close].iter().filter(|(_, c)| *c == '\n').count();
                        i = close;
                        continue;
                    }
                }
            },
            // A doubled quote inside is an escaped one: leaving and re-entering is the same.
            State::Quoted(quote) if c == quote => state = State::Code,
            State::Quoted(_) => {}
            State::LineComment if c == '\n' => state = State::Code,
            State::LineComment => {}
            State::BlockComment(depth) => {
                if c == '*' && next == Some('/') {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    };
                    step = 2;
                } else if c == '/' && next == Some('*') {
                    state = State::BlockComment(depth + 1);
                    step = 2;
                }
            }
        }
        for (_, c) in &chars[i..(i + step).min(chars.len())] {
            if *c == '\n' {
                line += 1;
            }
        }
        i += step;
    }
    push(&mut statements, sql, first, sql.len(), chars.len());
    statements
}

/// Ends the statement that started at `first` (byte, character, line), if one did.
fn push<'a>(
    statements: &mut Vec<Statement<'a>>,
    sql: &'a str,
    first: Option<(usize, usize, usize)>,
    byte_end: usize,
    char_end: usize,
) {
    if let Some((byte, ch, line)) = first {
        statements.push(Statement {
            text: sql[byte..byte_end].trim_end(),
            line,
            chars: ch..char_end,
        });
    }
}

/// The length in characters of a `$tag$` opening at the start of `chars`, if it is one.
fn dollar_tag(chars: &[(usize, char)]) -> Option<usize> {
    let mut len = 1;
    while let Some((_, c)) = chars.get(len) {
        match c {
            '$' => return Some(len + 1),
            c if c.is_alphanumeric() || *c == '_' => {
                // A tag does not start with a digit ($1 is a parameter).
                if len == 1 && c.is_ascii_digit() {
                    return None;
                }
                len += 1;
            }
            _ => return None,
        }
    }
    None
}

/// The statement that failed: the one holding PostgreSQL's `position` (1-based characters)
/// when it gave one, else the one after the `completed` statements that succeeded.
pub(crate) fn failed<'a>(
    statements: &'a [Statement<'a>],
    position: Option<usize>,
    completed: usize,
) -> Option<&'a Statement<'a>> {
    match position {
        Some(position) => {
            let at = position.saturating_sub(1);
            statements
                .iter()
                .find(|s| s.chars.contains(&at))
                .or_else(|| statements.iter().rev().find(|s| s.chars.start <= at))
        }
        None => statements.get(completed),
    }
}

/// The line (1-based) of character `position` (1-based, as PostgreSQL reports it) of `sql`.
pub(crate) fn line_of(sql: &str, position: usize) -> usize {
    1 + sql
        .chars()
        .take(position.saturating_sub(1))
        .filter(|c| *c == '\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_lines_and_skipped_text() {
        let sql = "-- setup; not a statement\nINSERT INTO a VALUES ('x;y');\n\n/* one; /* nested; */ */\
                   \nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n;;\
                   \nSELECT \"odd;name\"\nFROM t";
        let found = split(sql);
        let texts: Vec<&str> = found.iter().map(|s| s.text).collect();
        assert_eq!(
            texts,
            [
                "INSERT INTO a VALUES ('x;y')",
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT \"odd;name\"\nFROM t",
            ]
        );
        let lines: Vec<usize> = found.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 5, 7]);
        assert_eq!(found[2].one_line(100), "SELECT \"odd;name\" FROM t");
        assert_eq!(found[1].one_line(6), "CREATE...");
    }

    #[test]
    fn the_failed_statement_by_position_or_by_count() {
        let sql = "SELECT 1;\nINSERT INTO nope VALUES (1);\nSELECT 3";
        let statements = split(sql);
        // PostgreSQL's position of `nope`: 1-based characters into the whole text.
        let position = sql.find("nope").expect("in the text") + 1;
        let by_position = failed(&statements, Some(position), 0).expect("found");
        assert_eq!(by_position.text, "INSERT INTO nope VALUES (1)");
        assert_eq!(line_of(sql, position), 2);
        let by_count = failed(&statements, None, 2).expect("found");
        assert_eq!(by_count.line, 3);
        assert_eq!(failed(&statements, None, 3), None);
    }
}
