//! What the database holds: relations with row counts, and one table's columns, primary key
//! and foreign keys (both ways), read from `pg_catalog` with the names bound as values.

use persistence::postgres::quote_identifier;
use sqlx::{PgPool, Row};

use super::error::StudioError;

/// `"schema"."name"`: how every statement names a relation the catalog listed.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_identifier(schema), quote_identifier(name))
}

/// Above this many estimated rows a table's count is the planner's estimate.
const EXACT_COUNT_LIMIT: f32 = 1_000_000.0;

/// A table, view or the like, as the table list shows it.
#[derive(Debug, Clone)]
pub(crate) struct Relation {
    pub(crate) schema: String,
    pub(crate) name: String,
    /// `table`, `view`, `materialized view`, `foreign table` or `partitioned table`.
    pub(crate) kind: &'static str,
    /// The row count, `None` when counting failed.
    pub(crate) rows: Option<i64>,
    /// The count is the planner's estimate (large tables).
    pub(crate) estimated: bool,
}

/// One column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// `format_type` of the column: SQL that names the type, identifiers quoted.
    pub(crate) sql_type: String,
    /// `pg_type.typname` of the type (`int4`, `jsonb`, ...), to pick an input.
    pub(crate) base: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    /// Generated or an identity `ALWAYS`: PostgreSQL refuses values for it.
    pub(crate) read_only: bool,
}

/// A foreign key from `from_*` to `to_*`.
#[derive(Debug, Clone)]
pub(crate) struct ForeignKey {
    pub(crate) from_schema: String,
    pub(crate) from_table: String,
    pub(crate) from_columns: Vec<String>,
    pub(crate) to_schema: String,
    pub(crate) to_table: String,
    pub(crate) to_columns: Vec<String>,
}

/// Everything the pages need about one relation.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) columns: Vec<Column>,
    /// The primary key's columns, empty if there is none (then the table is read-only).
    pub(crate) primary_key: Vec<String>,
    /// Its foreign keys to other tables.
    pub(crate) outgoing: Vec<ForeignKey>,
    /// Other tables' foreign keys to it.
    pub(crate) incoming: Vec<ForeignKey>,
}

impl Table {
    /// The column named `name`.
    pub(crate) fn column(&self, name: &str) -> Result<&Column, StudioError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| StudioError::NotFound(format!("column `{name}` of `{}`", self.name)))
    }

    /// Rows can be edited, inserted and deleted only in tables with a primary key.
    pub(crate) fn editable(&self) -> bool {
        self.kind.ends_with("table") && self.kind != "foreign table" && !self.primary_key.is_empty()
    }

    /// The foreign key whose link the cell of `column` shows: one on that column alone,
    /// else one it is part of, unless it is part of the primary key too (a key column in
    /// a composite foreign key, `(id, current_version_id)`, would link every row).
    pub(crate) fn reference_of(&self, column: &str) -> Option<&ForeignKey> {
        let alone = self
            .outgoing
            .iter()
            .find(|fk| fk.from_columns.len() == 1 && fk.from_columns[0] == column);
        alone.or_else(|| {
            if self.primary_key.iter().any(|c| c == column) {
                return None;
            }
            self.outgoing
                .iter()
                .find(|fk| fk.from_columns.iter().any(|c| c == column))
        })
    }
}

fn kind_name(relkind: i8) -> &'static str {
    match relkind as u8 {
        b'r' => "table",
        b'p' => "partitioned table",
        b'v' => "view",
        b'm' => "materialized view",
        b'f' => "foreign table",
        _ => "relation",
    }
}

/// Every relation the user may read, outside the system schemas, grouped by schema.
pub(crate) async fn relations(pool: &PgPool) -> Result<Vec<Relation>, StudioError> {
    let rows = sqlx::query(
        "SELECT n.nspname::text, c.relname::text, c.relkind::\"char\", c.reltuples \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
           AND has_table_privilege(c.oid, 'SELECT') \
         ORDER BY n.nspname = 'public' DESC, 1, 2",
    )
    .fetch_all(pool)
    .await?;
    let mut relations = Vec::with_capacity(rows.len());
    for row in rows {
        let schema: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let kind: i8 = row.try_get(2)?;
        let estimate: f32 = row.try_get(3)?;
        let (rows, estimated) = if estimate > EXACT_COUNT_LIMIT {
            (Some(estimate as i64), true)
        } else {
            (count(pool, &schema, &name).await, false)
        };
        relations.push(Relation {
            schema,
            name,
            kind: kind_name(kind),
            rows,
            estimated,
        });
    }
    Ok(relations)
}

/// The exact row count, or `None` if counting fails (a broken view) or takes over 2 s.
async fn count(pool: &PgPool, schema: &str, name: &str) -> Option<i64> {
    let mut tx = pool.begin().await.ok()?;
    sqlx::query("SET LOCAL statement_timeout = '2s'")
        .execute(&mut *tx)
        .await
        .ok()?;
    let sql = format!("SELECT count(*) FROM {}", qualified(schema, name));
    let counted = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *tx)
        .await
        .ok();
    let _ = tx.rollback().await;
    counted
}

/// One relation by schema and name.
pub(crate) async fn table(pool: &PgPool, schema: &str, name: &str) -> Result<Table, StudioError> {
    let found = sqlx::query(
        "SELECT c.oid::int8, c.relkind::\"char\" \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StudioError::NotFound(format!("table `{schema}`.`{name}`")))?;
    let oid: i64 = found.try_get(0)?;
    let kind: i8 = found.try_get(1)?;

    let columns = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text, \
                a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                a.attgenerated <> '' OR a.attidentity = 'a' \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        Ok(Column {
            name: row.try_get(0)?,
            sql_type: row.try_get(1)?,
            base: row.try_get(2)?,
            not_null: row.try_get(3)?,
            has_default: row.try_get(4)?,
            read_only: row.try_get(5)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let primary_key: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text \
         FROM pg_constraint con, unnest(con.conkey) WITH ORDINALITY AS k(num, pos), pg_attribute a \
         WHERE con.conrelid = $1::oid AND con.contype = 'p' \
           AND a.attrelid = con.conrelid AND a.attnum = k.num \
         ORDER BY k.pos",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;

    let keys = sqlx::query(
        "SELECT fn.nspname::text, fc.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, pos) \
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num \
                      ORDER BY k.pos), \
                tn.nspname::text, tc.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, pos) \
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num \
                      ORDER BY k.pos) \
         FROM pg_constraint con \
         JOIN pg_class fc ON fc.oid = con.conrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
         JOIN pg_class tc ON tc.oid = con.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
         WHERE con.contype = 'f' AND con.conparentid = 0 \
           AND (con.conrelid = $1::oid OR con.confrelid = $1::oid) \
         ORDER BY con.conname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut outgoing = Vec::new();
    let mut incoming = Vec::new();
    for row in keys {
        let fk = ForeignKey {
            from_schema: row.try_get(0)?,
            from_table: row.try_get(1)?,
            from_columns: row.try_get(2)?,
            to_schema: row.try_get(3)?,
            to_table: row.try_get(4)?,
            to_columns: row.try_get(5)?,
        };
        if fk.from_schema == schema && fk.from_table == name {
            outgoing.push(fk.clone());
        }
        if fk.to_schema == schema && fk.to_table == name {
            incoming.push(fk);
        }
    }
    Ok(Table {
        schema: schema.to_owned(),
        name: name.to_owned(),
        kind: kind_name(kind),
        columns,
        primary_key,
        outgoing,
        incoming,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted() {
        assert_eq!(
            qualified("s", "a\"b; drop table x"),
            "\"s\".\"a\"\"b; drop table x\""
        );
    }
}
