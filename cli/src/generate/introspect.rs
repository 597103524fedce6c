//! Reads the schema from `pg_catalog`: tables of the search path with their columns, the
//! types those columns use, enum labels and `COMMENT ON` text.
//!
//! Everything is ordered (schema, table, column number; enum sort order) so that one
//! schema always gives the same output.

use std::collections::BTreeMap;

use persistence::postgres::Error;
use sqlx::PgConnection;

/// The tables and types of a database.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    /// Ordered by schema and name.
    pub(crate) tables: Vec<Table>,
    /// Every type of the database, by oid.
    pub(crate) types: BTreeMap<i64, PgType>,
    /// Labels of every enum, by type oid, in sort order.
    pub(crate) enum_labels: BTreeMap<i64, Vec<String>>,
    /// The schemas of the search path (`current_schemas(false)`).
    pub(crate) search_path: Vec<String>,
}

/// A table (plain or partitioned).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) comment: Option<String>,
    /// In column order.
    pub(crate) columns: Vec<Column>,
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) type_oid: i64,
    /// The type as PostgreSQL writes it, modifiers included (`character varying(20)`).
    pub(crate) type_display: String,
    pub(crate) not_null: bool,
    pub(crate) comment: Option<String>,
}

/// A row of `pg_type`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PgType {
    pub(crate) schema: String,
    /// `typname`: `int8`, `timestamptz`, `_text`, `mood`.
    pub(crate) name: String,
    /// `typtype`: `b` base, `d` domain, `e` enum, `c` composite, `r` range, `p` pseudo.
    pub(crate) kind: String,
    /// `typcategory`: `A` for arrays.
    pub(crate) category: String,
    /// The element type of an array (0 otherwise).
    pub(crate) element: i64,
    /// The base type of a domain (0 otherwise).
    pub(crate) base: i64,
    /// A domain declared `NOT NULL`.
    pub(crate) not_null: bool,
    pub(crate) comment: Option<String>,
}

impl PgType {
    /// `name`, or `schema.name` outside `pg_catalog` and the search path.
    pub(crate) fn qualified(&self, search_path: &[String]) -> String {
        if self.schema == "pg_catalog" || search_path.contains(&self.schema) {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }
}

const TABLES: &str = "\
SELECT n.nspname AS schema, c.relname AS table_name, \
       obj_description(c.oid, 'pg_class') AS table_comment, \
       a.attname AS column_name, a.atttypid::int8 AS type_oid, \
       format_type(a.atttypid, a.atttypmod) AS type_display, a.attnotnull AS not_null, \
       col_description(c.oid, a.attnum) AS column_comment \
FROM pg_class c \
JOIN pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
  AND n.nspname = ANY (current_schemas(false)) \
  AND c.relname <> '_sqlx_migrations' \
ORDER BY n.nspname, c.relname, a.attnum";

const TYPES: &str = "\
SELECT t.oid::int8 AS oid, n.nspname AS schema, t.typname::text AS name, \
       t.typtype::text AS kind, t.typcategory::text AS category, \
       t.typelem::int8 AS element, t.typbasetype::int8 AS base, t.typnotnull AS not_null, \
       obj_description(t.oid, 'pg_type') AS comment \
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
ORDER BY t.oid";

const ENUM_LABELS: &str = "\
SELECT enumtypid::int8 AS type_oid, enumlabel::text AS label \
FROM pg_enum ORDER BY enumtypid, enumsortorder";

type TableRow = (
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    bool,
    Option<String>,
);

type TypeRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    bool,
    Option<String>,
);

/// Reads the schema of the database `conn` is connected to.
pub(crate) async fn read(conn: &mut PgConnection) -> Result<Schema, Error> {
    let search_path: Vec<String> =
        sqlx::query_scalar("SELECT array_to_string(current_schemas(false), ',')")
            .fetch_one(&mut *conn)
            .await
            .map(|joined: String| {
                joined
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })?;
    let rows: Vec<TableRow> = sqlx::query_as(TABLES).fetch_all(&mut *conn).await?;
    let mut tables: Vec<Table> = Vec::new();
    for (schema, name, comment, column, type_oid, type_display, not_null, column_comment) in rows {
        let same = tables
            .last()
            .is_some_and(|t| t.schema == schema && t.name == name);
        if !same {
            tables.push(Table {
                schema,
                name,
                comment,
                columns: Vec::new(),
            });
        }
        if let Some(table) = tables.last_mut() {
            table.columns.push(Column {
                name: column,
                type_oid,
                type_display,
                not_null,
                comment: column_comment,
            });
        }
    }
    let rows: Vec<TypeRow> = sqlx::query_as(TYPES).fetch_all(&mut *conn).await?;
    let types = rows
        .into_iter()
        .map(
            |(oid, schema, name, kind, category, element, base, not_null, comment)| {
                let row = PgType {
                    schema,
                    name,
                    kind,
                    category,
                    element,
                    base,
                    not_null,
                    comment,
                };
                (oid, row)
            },
        )
        .collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(ENUM_LABELS).fetch_all(&mut *conn).await?;
    let mut enum_labels: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (oid, label) in rows {
        enum_labels.entry(oid).or_default().push(label);
    }
    Ok(Schema {
        tables,
        types,
        enum_labels,
        search_path,
    })
}
