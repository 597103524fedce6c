//! What a block sent: the statements, with transaction control apart, and how a wrong count
//! is reported.

use std::fmt;

/// How much of a statement's SQL a report shows.
const SHOWN_CHARS: usize = 120;

/// One statement the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text as sent (for an extended-protocol execution, the prepared statement's).
    pub sql: String,
    /// The counter's connection it came on, numbered from 1 in the order they opened.
    pub connection: u32,
}

impl Statement {
    /// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`, `SAVEPOINT`,
    /// `RELEASE` (and `ROLLBACK TO`, `PREPARE TRANSACTION`, `COMMIT PREPARED`...): statements
    /// that delimit transactions rather than do work.
    pub fn is_transaction_control(&self) -> bool {
        let first = self
            .sql
            .trim_start_matches(|c: char| c.is_whitespace() || c == ';' || c == '(')
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let second_is_transaction = || {
            self.sql
                .split_whitespace()
                .nth(1)
                .is_some_and(|w| w.to_ascii_uppercase().starts_with("TRANSACTION"))
        };
        match first.as_str() {
            "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => true,
            "START" | "PREPARE" => second_is_transaction(),
            _ => false,
        }
    }

    /// The SQL on one line, whitespace runs collapsed, cut after 120 characters.
    pub fn short_sql(&self) -> String {
        let line = self.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        match line.char_indices().nth(SHOWN_CHARS) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => line,
        }
    }
}

/// The statements the server received while a block ran (see
/// [`QueryCounter::measure`](super::QueryCounter::measure)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queries {
    statements: Vec<Statement>,
}

impl Queries {
    pub(crate) fn new(statements: Vec<Statement>) -> Self {
        Self { statements }
    }

    /// Statements that are not transaction control: what `assert_queries!` counts.
    pub fn count(&self) -> usize {
        self.statements().count()
    }

    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints...: counted apart.
    pub fn transaction_control_count(&self) -> usize {
        self.transaction_control().count()
    }

    /// Every statement, transaction control included.
    pub fn total(&self) -> usize {
        self.statements.len()
    }

    /// The statements that are not transaction control, in the order the server got them.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.statements
            .iter()
            .filter(|s| !s.is_transaction_control())
    }

    /// The transaction control statements, in order.
    pub fn transaction_control(&self) -> impl Iterator<Item = &Statement> {
        self.statements
            .iter()
            .filter(|s| s.is_transaction_control())
    }

    /// Every statement, in order.
    pub fn all(&self) -> &[Statement] {
        &self.statements
    }

    /// `Ok` when `expected` statements (transaction control not counted) were sent, and,
    /// when `transaction_control` is `Some`, that many transaction control statements.
    pub fn check(
        &self,
        expected: usize,
        transaction_control: Option<usize>,
    ) -> Result<(), QueryCountMismatch> {
        let statements_match = self.count() == expected;
        let control_matches =
            transaction_control.is_none_or(|n| n == self.transaction_control_count());
        if statements_match && control_matches {
            Ok(())
        } else {
            Err(QueryCountMismatch {
                expected,
                expected_transaction_control: transaction_control,
                queries: self.clone(),
            })
        }
    }
}

/// A block sent another number of statements than expected; its `Display` lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct QueryCountMismatch {
    /// Statements expected (transaction control not counted).
    pub expected: usize,
    /// Transaction control statements expected, when they were checked.
    pub expected_transaction_control: Option<usize>,
    /// What the server received.
    pub queries: Queries,
}

impl fmt::Display for QueryCountMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (expected, got) = (self.expected, self.queries.count());
        write!(
            f,
            "expected {expected} statement{}, the server received {got}",
            plural(expected)
        )?;
        let control = self.queries.transaction_control_count();
        match self.expected_transaction_control {
            Some(wanted) => write!(
                f,
                "; expected {wanted} transaction control statement{}, received {control}",
                plural(wanted)
            )?,
            None => write!(f, " (and {control} transaction control, not counted)")?,
        }
        write!(f, ":")?;
        for (i, statement) in self.queries.all().iter().enumerate() {
            let tag = if statement.is_transaction_control() {
                " (transaction control)"
            } else {
                ""
            };
            write!(
                f,
                "\n  {}. [connection {}] {}{tag}",
                i + 1,
                statement.connection,
                statement.short_sql()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sql: &str) -> Statement {
        Statement {
            sql: sql.to_owned(),
            connection: 1,
        }
    }

    #[test]
    fn transaction_control_is_recognized() {
        for sql in [
            "BEGIN",
            "begin isolation level serializable",
            "START TRANSACTION READ ONLY",
            "COMMIT",
            "end",
            "ROLLBACK",
            "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1",
            "SAVEPOINT _sqlx_savepoint_1",
            "RELEASE SAVEPOINT _sqlx_savepoint_1",
            "PREPARE TRANSACTION 'x'",
            "  abort",
        ] {
            assert!(statement(sql).is_transaction_control(), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO begin_log VALUES (1)",
            "PREPARE q AS SELECT 1",
            "START_something",
            "SET LOCAL statement_timeout = 1000",
            "",
        ] {
            assert!(!statement(sql).is_transaction_control(), "{sql}");
        }
    }

    #[test]
    fn long_sql_is_shortened_on_one_line() {
        let sql = format!("SELECT\n    {}\nFROM t", "x, ".repeat(100));
        let short = statement(&sql).short_sql();
        assert!(short.starts_with("SELECT x, x,"), "{short}");
        assert!(short.ends_with("..."), "{short}");
        assert_eq!(short.chars().count(), SHOWN_CHARS + 3);
        assert_eq!(statement("SELECT  1\n").short_sql(), "SELECT 1");
        assert_eq!(statement(&"é".repeat(130)).short_sql().chars().count(), 123);
    }

    #[test]
    fn mismatches_list_every_statement() {
        let queries = Queries::new(vec![
            statement("BEGIN"),
            statement("SELECT 1"),
            statement("SELECT 2"),
            statement("COMMIT"),
        ]);
        assert_eq!(queries.count(), 2);
        assert_eq!(queries.transaction_control_count(), 2);
        assert_eq!(queries.total(), 4);
        assert!(queries.check(2, None).is_ok());
        assert!(queries.check(2, Some(2)).is_ok());
        let error = queries.check(2, Some(0)).expect_err("control differs");
        assert!(error.to_string().starts_with(
            "expected 2 statements, the server received 2; expected 0 transaction control \
             statements, received 2:"
        ));
        let error = queries.check(1, None).expect_err("count differs");
        assert_eq!(
            error.to_string(),
            "expected 1 statement, the server received 2 (and 2 transaction control, not \
             counted):\n  1. [connection 1] BEGIN (transaction control)\n  2. [connection 1] \
             SELECT 1\n  3. [connection 1] SELECT 2\n  4. [connection 1] COMMIT (transaction \
             control)"
        );
    }
}
