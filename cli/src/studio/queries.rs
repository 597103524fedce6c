//! Every statement the studio runs on the user's data. Identifiers come from the catalog and
//! are quoted with [`quote_identifier`]; types come from `format_type`, which quotes their
//! names itself; every value is a bound parameter, sent as text and cast to the column's type
//! (`$1::<type>`), so PostgreSQL parses it with its own input functions and errors.

use persistence::postgres::quote_identifier;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgPool, Row};

use super::catalog::{Column, Table, qualified};
use super::error::StudioError;

/// Rows on one page.
pub(crate) const PAGE_SIZE: i64 = 50;

/// A column's value as text; `None` is SQL `NULL`.
pub(crate) type Value = Option<String>;

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `column = value` (typed).
    Equals,
    /// The column's text contains the value, ignoring case.
    Contains,
    /// `column IS NULL`.
    IsNull,
    /// `column IS NOT NULL`.
    NotNull,
}

impl Op {
    /// The name used in URLs.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Equals => "eq",
            Self::Contains => "contains",
            Self::IsNull => "null",
            Self::NotNull => "notnull",
        }
    }

    /// The operator named `code` in a URL.
    pub(crate) fn parse(code: &str) -> Result<Self, StudioError> {
        Ok(match code {
            "eq" => Self::Equals,
            "contains" => Self::Contains,
            "null" => Self::IsNull,
            "notnull" => Self::NotNull,
            other => {
                return Err(StudioError::BadRequest(format!(
                    "unknown filter `{other}`: use eq, contains, null or notnull"
                )));
            }
        })
    }

    /// Every operator, in the order the filter form offers them.
    pub(crate) const ALL: [Self; 4] = [Self::Equals, Self::Contains, Self::IsNull, Self::NotNull];

    /// Its label in the filter form.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::Contains => "contains",
            Self::IsNull => "is null",
            Self::NotNull => "is not null",
        }
    }
}

/// One condition on a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) column: String,
    pub(crate) op: Op,
    pub(crate) value: String,
}

/// What a table page asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) filters: Vec<Filter>,
    /// Text to find in any column.
    pub(crate) search: String,
    /// The column to sort by, and whether descending.
    pub(crate) sort: Option<(String, bool)>,
    /// From 0.
    pub(crate) page: i64,
}

/// One page of rows.
#[derive(Debug)]
pub(crate) struct Rows {
    pub(crate) rows: Vec<Vec<Value>>,
    /// Rows matching the filters, all pages.
    pub(crate) total: i64,
}

/// An SQL text with its bound values.
struct Statement {
    sql: String,
    values: Vec<Value>,
}

impl Statement {
    fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn arguments(&self) -> Result<PgArguments, StudioError> {
        let mut arguments = PgArguments::default();
        for value in &self.values {
            arguments
                .add(value.clone())
                .map_err(|e| StudioError::BadRequest(e.to_string()))?;
        }
        Ok(arguments)
    }

    async fn fetch_all(&self, pool: &PgPool) -> Result<Vec<sqlx::postgres::PgRow>, StudioError> {
        Ok(
            sqlx::query_with(sqlx::AssertSqlSafe(self.sql.clone()), self.arguments()?)
                .fetch_all(pool)
                .await?,
        )
    }
}

/// `"column"::text` for each column, the list every read selects.
fn text_columns(table: &Table) -> String {
    if table.columns.is_empty() {
        return "NULL::text".to_owned();
    }
    table
        .columns
        .iter()
        .map(|c| format!("{}::text", quote_identifier(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$n::type`: a bound text value cast to the column's type.
fn typed(statement: &mut Statement, column: &Column, value: Value) -> String {
    let placeholder = statement.bind(value);
    format!("{placeholder}::{}", column.sql_type)
}

/// `%text%` for ILIKE, with its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The WHERE clause of a view (empty if it has no condition).
fn conditions(
    table: &Table,
    view: &View,
    statement: &mut Statement,
) -> Result<String, StudioError> {
    let mut parts = Vec::new();
    for filter in &view.filters {
        let column = table.column(&filter.column)?;
        let quoted = quote_identifier(&column.name);
        parts.push(match filter.op {
            Op::Equals => {
                let value = typed(statement, column, Some(filter.value.clone()));
                format!("{quoted} = {value}")
            }
            Op::Contains => {
                let pattern = statement.bind(Some(contains_pattern(&filter.value)));
                format!("{quoted}::text ILIKE {pattern}")
            }
            Op::IsNull => format!("{quoted} IS NULL"),
            Op::NotNull => format!("{quoted} IS NOT NULL"),
        });
    }
    if !view.search.is_empty() && !table.columns.is_empty() {
        let pattern = statement.bind(Some(contains_pattern(&view.search)));
        let any: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("{}::text ILIKE {pattern}", quote_identifier(&c.name)))
            .collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    Ok(if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    })
}

/// One page of a table's rows and the number of rows that match.
pub(crate) async fn page(pool: &PgPool, table: &Table, view: &View) -> Result<Rows, StudioError> {
    let from = qualified(&table.schema, &table.name);
    let mut statement = Statement::new("");
    let filter = conditions(table, view, &mut statement)?;
    let mut order = Vec::new();
    if let Some((column, descending)) = &view.sort {
        let column = table.column(column)?;
        order.push(format!(
            "r.{} {}",
            quote_identifier(&column.name),
            if *descending {
                "DESC NULLS LAST"
            } else {
                "ASC NULLS FIRST"
            }
        ));
    }
    // The primary key keeps pages stable among equal sort values. Sort keys are qualified:
    // a bare name would sort by the selected `name::text` output column, as text.
    order.extend(
        table
            .primary_key
            .iter()
            .map(|c| format!("r.{}", quote_identifier(c))),
    );
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    let offset = view.page.max(0).saturating_mul(PAGE_SIZE);
    statement.sql = format!(
        "SELECT {} FROM {from} AS r{filter}{order} LIMIT {PAGE_SIZE} OFFSET {offset}",
        text_columns(table)
    );
    let rows = statement
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| values(&row, table.columns.len()))
        .collect::<Result<Vec<_>, _>>()?;
    statement.sql = format!("SELECT count(*) FROM {from}{filter}");
    let total: i64 = statement.fetch_all(pool).await?[0].try_get(0)?;
    Ok(Rows { rows, total })
}

fn values(row: &sqlx::postgres::PgRow, width: usize) -> Result<Vec<Value>, StudioError> {
    (0..width)
        .map(|i| row.try_get::<Value, _>(i).map_err(StudioError::from))
        .collect()
}

/// `"a" = $1::type AND "b" = $2::type` for the columns `names` and their `values`.
fn matching(
    table: &Table,
    names: &[String],
    values: &[String],
    statement: &mut Statement,
) -> Result<String, StudioError> {
    if names.is_empty() || names.len() != values.len() {
        return Err(StudioError::BadRequest(
            "a row is named by as many values as columns".to_owned(),
        ));
    }
    let mut parts = Vec::new();
    for (name, value) in names.iter().zip(values) {
        let column = table.column(name)?;
        let value = typed(statement, column, Some(value.clone()));
        parts.push(format!("{} = {value}", quote_identifier(&column.name)));
    }
    Ok(parts.join(" AND "))
}

/// The one row whose columns `names` have `values` (a primary or other unique key).
pub(crate) async fn row(
    pool: &PgPool,
    table: &Table,
    names: &[String],
    values: &[String],
) -> Result<Vec<Value>, StudioError> {
    let mut statement = Statement::new("");
    let condition = matching(table, names, values, &mut statement)?;
    statement.sql = format!(
        "SELECT {} FROM {} WHERE {condition} LIMIT 2",
        text_columns(table),
        qualified(&table.schema, &table.name)
    );
    let mut rows = statement.fetch_all(pool).await?;
    match rows.len() {
        1 => values_of(&rows.remove(0), table),
        0 => Err(StudioError::NotFound(format!(
            "no row of `{}` has {} = {} (it may have been deleted)",
            table.name,
            names.join(", "),
            values.join(", ")
        ))),
        _ => Err(StudioError::BadRequest(format!(
            "more than one row of `{}` has {} = {}",
            table.name,
            names.join(", "),
            values.join(", ")
        ))),
    }
}

fn values_of(row: &sqlx::postgres::PgRow, table: &Table) -> Result<Vec<Value>, StudioError> {
    values(row, table.columns.len())
}

/// How many rows of `table` have `values` in the columns `names`.
pub(crate) async fn count_matching(
    pool: &PgPool,
    table: &Table,
    names: &[String],
    values: &[String],
) -> Result<i64, StudioError> {
    let mut statement = Statement::new("");
    let condition = matching(table, names, values, &mut statement)?;
    statement.sql = format!(
        "SELECT count(*) FROM {} WHERE {condition}",
        qualified(&table.schema, &table.name)
    );
    Ok(statement.fetch_all(pool).await?[0].try_get(0)?)
}

/// The optimistic check: every column still has the text the page showed.
fn unchanged(
    table: &Table,
    shown: &[Value],
    statement: &mut Statement,
) -> Result<String, StudioError> {
    if shown.len() != table.columns.len() {
        return Err(StudioError::Changed);
    }
    let parts: Vec<String> = table
        .columns
        .iter()
        .zip(shown)
        .map(|(column, value)| {
            let placeholder = statement.bind(value.clone());
            format!(
                "{}::text IS NOT DISTINCT FROM {placeholder}",
                quote_identifier(&column.name)
            )
        })
        .collect();
    Ok(parts.join(" AND "))
}

/// The primary key's values in a row as shown.
pub(crate) fn key_of(table: &Table, shown: &[Value]) -> Option<Vec<String>> {
    table
        .primary_key
        .iter()
        .map(|name| {
            let index = table.columns.iter().position(|c| &c.name == name)?;
            shown.get(index)?.clone()
        })
        .collect()
}

/// Runs one write in a transaction of its own; `Changed` if it touched no row.
async fn write_one(pool: &PgPool, statement: &Statement) -> Result<(), StudioError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query_with(
        sqlx::AssertSqlSafe(statement.sql.clone()),
        statement.arguments()?,
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(StudioError::Changed);
    }
    tx.commit().await?;
    Ok(())
}

/// Sets `changes` (column, new value) on the row shown with `shown`, if it still has them.
pub(crate) async fn update(
    pool: &PgPool,
    table: &Table,
    shown: &[Value],
    changes: &[(String, Value)],
) -> Result<(), StudioError> {
    let key = key_of(table, shown).ok_or(StudioError::Changed)?;
    let mut statement = Statement::new("");
    let mut sets = Vec::new();
    for (name, value) in changes {
        let column = table.column(name)?;
        let value = typed(&mut statement, column, value.clone());
        sets.push(format!("{} = {value}", quote_identifier(&column.name)));
    }
    let condition = matching(table, &table.primary_key, &key, &mut statement)?;
    let check = unchanged(table, shown, &mut statement)?;
    statement.sql = format!(
        "UPDATE {} SET {} WHERE {condition} AND {check}",
        qualified(&table.schema, &table.name),
        sets.join(", ")
    );
    write_one(pool, &statement).await
}

/// Deletes the row shown with `shown`, if it still has those values.
pub(crate) async fn delete(
    pool: &PgPool,
    table: &Table,
    shown: &[Value],
) -> Result<(), StudioError> {
    let key = key_of(table, shown).ok_or(StudioError::Changed)?;
    let mut statement = Statement::new("");
    let condition = matching(table, &table.primary_key, &key, &mut statement)?;
    let check = unchanged(table, shown, &mut statement)?;
    statement.sql = format!(
        "DELETE FROM {} WHERE {condition} AND {check}",
        qualified(&table.schema, &table.name)
    );
    write_one(pool, &statement).await
}

/// Inserts a row with `values` (the other columns get their defaults); its primary key.
pub(crate) async fn insert(
    pool: &PgPool,
    table: &Table,
    values: &[(String, Value)],
) -> Result<Vec<String>, StudioError> {
    let mut statement = Statement::new("");
    let mut names = Vec::new();
    let mut placeholders = Vec::new();
    for (name, value) in values {
        let column = table.column(name)?;
        names.push(quote_identifier(&column.name));
        placeholders.push(typed(&mut statement, column, value.clone()));
    }
    let returning: Vec<String> = table
        .primary_key
        .iter()
        .map(|c| format!("{}::text", quote_identifier(c)))
        .collect();
    let target = qualified(&table.schema, &table.name);
    let body = if names.is_empty() {
        "DEFAULT VALUES".to_owned()
    } else {
        format!(
            "({}) VALUES ({})",
            names.join(", "),
            placeholders.join(", ")
        )
    };
    statement.sql = format!(
        "INSERT INTO {target} {body} RETURNING {}",
        returning.join(", ")
    );
    let mut tx = pool.begin().await?;
    let row = sqlx::query_with(
        sqlx::AssertSqlSafe(statement.sql.clone()),
        statement.arguments()?,
    )
    .fetch_one(&mut *tx)
    .await?;
    let key = (0..returning.len())
        .map(|i| row.try_get::<String, _>(i))
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit().await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
