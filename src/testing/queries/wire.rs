//! The part of PostgreSQL's frontend protocol (version 3) the counter reads: which
//! statements a client asks the server to run.
//!
//! A simple `Query` message runs its SQL at once; in the extended protocol, `Parse` names a
//! statement, `Bind` makes a portal of it and `Execute` runs the portal. A statement is
//! counted when it runs (`Query` or `Execute`), so preparing or describing one, as sqlx does
//! before the first execution, is not a statement.

use std::collections::HashMap;

/// What one connection has prepared: statement names to SQL, portal names to statements.
#[derive(Debug, Default)]
pub(crate) struct Session {
    statements: HashMap<String, String>,
    portals: HashMap<String, String>,
}

impl Session {
    /// Reads one typed message; returns the SQL it runs, if it runs one.
    pub(crate) fn observe(&mut self, tag: u8, body: &[u8]) -> Option<String> {
        let mut fields = Fields(body);
        match tag {
            b'Q' => fields.string(),
            b'P' => {
                let name = fields.string()?;
                let sql = fields.string()?;
                self.statements.insert(name, sql);
                None
            }
            b'B' => {
                let portal = fields.string()?;
                let statement = fields.string()?;
                self.portals.insert(portal, statement);
                None
            }
            b'E' => {
                let portal = fields.string()?;
                let statement = self.portals.get(&portal)?;
                Some(
                    self.statements
                        .get(statement)
                        .cloned()
                        .unwrap_or_else(|| format!("(prepared statement {statement:?})")),
                )
            }
            b'C' => {
                let kind = fields.byte()?;
                let name = fields.string()?;
                match kind {
                    b'S' => self.statements.remove(&name),
                    _ => self.portals.remove(&name),
                };
                None
            }
            _ => None,
        }
    }
}

/// Null-terminated strings and bytes read off a message body.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn string(&mut self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let text = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        Some(text)
    }

    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(parts: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        body
    }

    #[test]
    fn simple_queries_run_at_once() {
        let mut session = Session::default();
        assert_eq!(
            session.observe(b'Q', &strings(&["SELECT 1"])).as_deref(),
            Some("SELECT 1")
        );
    }

    #[test]
    fn extended_queries_run_on_execute_only() {
        let mut session = Session::default();
        let mut parse = strings(&["s1", "SELECT $1"]);
        parse.extend_from_slice(&[0, 0]);
        assert_eq!(session.observe(b'P', &parse), None);
        assert_eq!(session.observe(b'D', b"Ss1\0"), None);
        let bind = strings(&["", "s1"]);
        for _ in 0..3 {
            assert_eq!(session.observe(b'B', &bind), None);
            let mut execute = strings(&[""]);
            execute.extend_from_slice(&0_i32.to_be_bytes());
            assert_eq!(
                session.observe(b'E', &execute).as_deref(),
                Some("SELECT $1")
            );
        }
        let mut close = vec![b'S'];
        close.extend(strings(&["s1"]));
        assert_eq!(session.observe(b'C', &close), None);
        assert_eq!(
            session.observe(b'E', &strings(&[""])).as_deref(),
            Some("(prepared statement \"s1\")")
        );
    }

    #[test]
    fn truncated_messages_are_ignored() {
        let mut session = Session::default();
        assert_eq!(session.observe(b'Q', b"SELECT 1"), None);
        assert_eq!(session.observe(b'B', b""), None);
        assert_eq!(session.observe(b'E', b"missing\0"), None);
    }
}
