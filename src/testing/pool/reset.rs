//! What a clean clone looks like, and how to make a used one clean again without cloning it
//! anew.
//!
//! `CREATE DATABASE ... TEMPLATE` costs ~15 ms of server time and `DROP DATABASE` ~7 ms, and
//! the server completes only ~100 such pairs a second on 2 cores (each clone waits for a
//! checkpoint). A database-mode test usually writes a few rows into a few tables, which can
//! be deleted far more cheaply. So a clone is reset after its test: the rows the template does
//! not have are deleted (whole tables the template leaves empty, and the new rows of tables
//! its fixtures fill) and the sequences put back, in one transaction. Anything a reset cannot
//! undo (a template row changed or deleted), or cannot prove it undid, makes the clone be
//! recreated.
//!
//! How a change is seen: every row a transaction writes carries its transaction id (`xmin`),
//! and ids only grow. When a clone is known clean, the next transaction id (the *watermark*)
//! is recorded with its lease; afterwards, a row whose `xmin` is at or above the watermark was
//! written since. That finds inserted and updated rows in tables, and any DDL in the system
//! catalogs (a new or altered table, column, index, function, type...). Deleted rows and
//! dropped objects leave no new row, so the row counts of tables that the template fills and
//! of the catalogs are compared with the template's as well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::create_clone;
use crate::ephemeral::state_dir::ServerFiles;
use crate::testing::error::HarnessError;
use crate::testing::session::Session;
pub(crate) use crate::testing::sql::WATERMARK_SQL;

/// Catalogs in which DDL writes rows, each with the column that names the object a row is
/// about. Only rows about objects created after initdb are read (their ids start at
/// PostgreSQL's `FirstNormalObjectId`, 16384), through the catalogs' indexes: the few hundred
/// rows of a schema rather than the ~15 000 of PostgreSQL's own objects. So a change to a
/// built-in object (a `GRANT` on a built-in function, say) is not seen.
const CATALOGS: &[(&str, &str)] = &[
    ("pg_class", "oid"),
    ("pg_attribute", "attrelid"),
    ("pg_attrdef", "oid"),
    ("pg_constraint", "oid"),
    ("pg_index", "indexrelid"),
    ("pg_inherits", "inhrelid"),
    ("pg_type", "oid"),
    ("pg_enum", "oid"),
    ("pg_range", "rngtypid"),
    ("pg_proc", "oid"),
    ("pg_operator", "oid"),
    ("pg_cast", "oid"),
    ("pg_namespace", "oid"),
    ("pg_trigger", "oid"),
    ("pg_event_trigger", "oid"),
    ("pg_rewrite", "oid"),
    ("pg_policy", "oid"),
    ("pg_extension", "oid"),
    ("pg_sequence", "seqrelid"),
    ("pg_description", "objoid"),
    ("pg_largeobject_metadata", "oid"),
    ("pg_publication", "oid"),
    ("pg_statistic_ext", "oid"),
    ("pg_default_acl", "oid"),
    ("pg_collation", "oid"),
    ("pg_foreign_table", "ftrelid"),
];

/// The first object id PostgreSQL hands out after initdb.
const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

/// A template's tables, sequences and catalog size, read once from a fresh clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Profile {
    tables: Vec<Table>,
    sequences: Vec<Sequence>,
    catalog_rows: i64,
    /// For each table, its place in an order that deletes referencing rows before the rows
    /// they reference; `None` when the schema has a cycle of foreign keys, or a trigger or
    /// rule that acts on DELETE (which a reset must not set off).
    delete_order: Option<Vec<usize>>,
    /// The look's text (see [`Profile::detect_sql`]), built on the first reset: it is the
    /// same for every reset of the template, and a few kilobytes to format.
    #[serde(skip)]
    detect: OnceLock<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Table {
    /// Schema-qualified and quoted, ready for SQL.
    name: String,
    /// Rows in the template.
    rows: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sequence {
    /// Schema-qualified and quoted, ready for SQL.
    name: String,
    /// `None` when the template never called it.
    last_value: Option<i64>,
    start_value: i64,
}

/// A table the test did not change.
const UNTOUCHED: i16 = 0;
/// A table to which the test only added rows: deleting the rows written since the
/// watermark makes it the template's again (all of them, for a table the template leaves
/// empty).
const ONLY_NEW_ROWS: i16 = 1;
/// A table of which the test changed or deleted a template row.
const CHANGED: i16 = 2;

/// One delete of a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delete {
    /// Index into the profile's tables.
    table: usize,
    /// Only the rows written since the watermark (the table has template rows); else all.
    only_new: bool,
}

/// What the reset found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Nothing to undo.
    Untouched,
    /// Rows deleted and sequences restored; the clone is clean from `watermark` on.
    Cleaned {
        /// The next transaction id after the reset committed.
        watermark: u64,
    },
    /// The test changed what a reset cannot undo: recreate the clone.
    Recreate,
}

impl Profile {
    /// Reads the profile of the database `conn` is connected to, which must be a clone that
    /// nothing has written to since it was made.
    pub(crate) async fn read(conn: &mut PgConnection) -> Result<Self, HarnessError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(HarnessError::sql("listing the template's tables"))?;
        let rows: Vec<i64> = if names.is_empty() {
            Vec::new()
        } else {
            let counts: Vec<String> = names
                .iter()
                .map(|t| format!("(SELECT count(*) FROM {t})"))
                .collect();
            sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT ARRAY[{}]::int8[]",
                counts.join(", ")
            )))
            .fetch_one(&mut *conn)
            .await
            .map_err(HarnessError::sql("counting the template's rows"))?
        };
        let tables: Vec<Table> = names
            .into_iter()
            .zip(rows)
            .map(|(name, rows)| Table { name, rows })
            .collect();
        let sequences = sqlx::query(
            "SELECT format('%I.%I', schemaname, sequencename) AS name, last_value, start_value \
             FROM pg_sequences ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(HarnessError::sql("listing the template's sequences"))?
        .into_iter()
        .map(|row| Sequence {
            name: row.get("name"),
            last_value: row.get("last_value"),
            start_value: row.get("start_value"),
        })
        .collect();
        let catalog_rows = sqlx::query_scalar(AssertSqlSafe(format!(
            "{WATERMARK_AGE} SELECT rows FROM ({}) c",
            catalog_sql()
        )))
        .bind(0_i64)
        .fetch_one(&mut *conn)
        .await
        .map_err(HarnessError::sql("counting the template's catalog rows"))?;
        let delete_order = delete_order(conn, &tables).await?;
        Ok(Self {
            tables,
            sequences,
            catalog_rows,
            delete_order,
            detect: OnceLock::new(),
        })
    }

    /// Finds what was written since `watermark` and undoes it, if a reset can; first runs
    /// `session_sql` (statements that clean up a session that outlives the test), so that
    /// the look runs with the session's defaults.
    ///
    /// The look and the clean-up are one transaction, in which the look uses its generic
    /// plan: PostgreSQL would otherwise plan its ~40 subqueries anew at every execution (a
    /// custom plan for the bound watermark), which costs ~5 ms of server time per test where
    /// the execution costs ~1 ms. `SET LOCAL` keeps the setting out of the test's session.
    pub(crate) async fn reset(
        &self,
        conn: &mut PgConnection,
        watermark: u64,
        session_sql: Option<&str>,
    ) -> Result<Reset, HarnessError> {
        let session = session_sql
            .map(|sql| format!("{sql}; "))
            .unwrap_or_default();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "{session}BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"
        )))
        .execute(&mut *conn)
        .await
        .map_err(HarnessError::sql("resetting the test's session"))?;
        let found = self.look(conn, watermark).await;
        let (deletes, restores) = match found {
            Ok(Some(changes)) => changes,
            Ok(None) | Err(_) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                return found.map(|_| Reset::Recreate);
            }
        };
        if deletes.is_empty() && restores.is_empty() {
            sqlx::raw_sql("COMMIT")
                .execute(&mut *conn)
                .await
                .map_err(HarnessError::sql("resetting the test's session"))?;
            return Ok(Reset::Untouched);
        }
        let rows = match &self.delete_order {
            Some(_) => {
                // Referencing rows first (`look` sorted them), so that foreign keys hold at
                // every step. This keeps the backend's plan cache, which
                // `session_replication_role` flushes.
                let plain = self.reset_sql(&deletes, &restores, watermark, false);
                match sqlx::raw_sql(AssertSqlSafe(plain))
                    .fetch_all(&mut *conn)
                    .await
                {
                    Ok(rows) => Ok(rows),
                    // A self-reference with ON DELETE RESTRICT, say: no order helps.
                    Err(_) => {
                        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                        let forced = self.reset_sql(&deletes, &restores, watermark, true);
                        sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {forced}")))
                            .fetch_all(&mut *conn)
                            .await
                    }
                }
            }
            None => {
                let forced = self.reset_sql(&deletes, &restores, watermark, true);
                sqlx::raw_sql(AssertSqlSafe(forced))
                    .fetch_all(&mut *conn)
                    .await
            }
        }
        .map_err(HarnessError::sql("resetting the test's database"))?;
        let watermark = rows
            .last()
            .and_then(|r| r.try_get::<i64, _>(0).ok())
            .ok_or_else(|| HarnessError::Sql {
                action: "reading the transaction id after a reset".to_owned(),
                source: sqlx::Error::RowNotFound,
            })?;
        Ok(Reset::Cleaned {
            watermark: u64::try_from(watermark).unwrap_or(0),
        })
    }

    /// What the test changed since `watermark`: the deletes (referencing tables first) and
    /// the sequence restores; `None` when a reset cannot undo it.
    async fn look(
        &self,
        conn: &mut PgConnection,
        watermark: u64,
    ) -> Result<Option<(Vec<Delete>, Vec<String>)>, HarnessError> {
        // The text does not change between calls, so the connection prepares it once.
        let detect = self.detect.get_or_init(|| self.detect_sql());
        let row = sqlx::query(AssertSqlSafe(detect.as_str()))
            .bind(i64::try_from(watermark).unwrap_or(i64::MAX))
            .fetch_one(&mut *conn)
            .await
            .map_err(HarnessError::sql("looking for what the test changed"))?;
        let touched: Vec<i16> = row.get("touched");
        let catalog_changed: bool = row.get("catalog_changed");
        let sequences: Vec<Option<i64>> = row.get("sequences");
        if catalog_changed || sequences.len() != self.sequences.len() {
            return Ok(None);
        }
        let mut deletes = Vec::new();
        for (table, change) in touched.iter().enumerate() {
            match *change {
                UNTOUCHED => {}
                ONLY_NEW_ROWS => deletes.push(Delete {
                    table,
                    only_new: self.tables[table].rows > 0,
                }),
                // A template row was changed or deleted: it cannot be had back without a
                // copy of the template's rows.
                _ => return Ok(None),
            }
        }
        if let Some(order) = &self.delete_order {
            deletes.sort_by_key(|delete| order[delete.table]);
        }
        let mut restores = Vec::new();
        for (sequence, now) in self.sequences.iter().zip(&sequences) {
            if *now != sequence.last_value {
                let (value, called) = match sequence.last_value {
                    Some(v) => (v, true),
                    None => (sequence.start_value, false),
                };
                restores.push(format!(
                    "SELECT setval('{}', {value}, {called})",
                    sequence.name.replace('\'', "''")
                ));
            }
        }
        Ok(Some((deletes, restores)))
    }

    /// The rest of the reset's transaction: the deletes and the sequence restores, the
    /// commit, then the new watermark. `forced` deletes as a replica would: no trigger fires,
    /// foreign keys included.
    fn reset_sql(
        &self,
        deletes: &[Delete],
        restores: &[String],
        watermark: u64,
        forced: bool,
    ) -> String {
        let mut statements = Vec::with_capacity(deletes.len() + restores.len() + 1);
        statements.push(if forced {
            "SET LOCAL session_replication_role = replica".to_owned()
        } else {
            "SET CONSTRAINTS ALL DEFERRED".to_owned()
        });
        statements.extend(deletes.iter().map(|delete| {
            let table = &self.tables[delete.table].name;
            if delete.only_new {
                // The watermark is a number of the harness's own, not text from anywhere.
                format!(
                    "DELETE FROM {table} WHERE age(xmin) <= \
                     age(({watermark}::int8 % 4294967296)::text::xid)"
                )
            } else {
                format!("DELETE FROM {table}")
            }
        }));
        statements.extend(restores.iter().cloned());
        format!("{}; COMMIT; {WATERMARK_SQL}", statements.join("; "))
    }

    /// The query that finds what changed since the watermark, its only parameter (`$1`).
    /// For each table, [`UNTOUCHED`], [`ONLY_NEW_ROWS`] (rows added since the watermark, and
    /// nothing else: every row it has beyond the template's is new, so none of the
    /// template's was changed or deleted), or [`CHANGED`].
    fn detect_sql(&self) -> String {
        let newer = NEWER_THAN_WATERMARK;
        let touched: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                if t.rows == 0 {
                    format!("(EXISTS (SELECT 1 FROM {}))::int::int2", t.name)
                } else {
                    format!(
                        "(SELECT CASE WHEN count(*) = {rows} AND NOT coalesce(bool_or({newer}), \
                         false) THEN {UNTOUCHED} WHEN count(*) - {rows} = count(*) FILTER \
                         (WHERE {newer}) THEN {ONLY_NEW_ROWS} ELSE {CHANGED} END FROM {})::int2",
                        t.name,
                        rows = t.rows,
                    )
                }
            })
            .collect();
        format!(
            "{WATERMARK_AGE} SELECT ARRAY[{touched}]::int2[] AS touched, \
             (SELECT c.rows <> {catalog_rows} OR c.fresh FROM ({catalogs}) c) AS catalog_changed, \
             ARRAY(SELECT last_value FROM pg_sequences \
                   ORDER BY format('%I.%I', schemaname, sequencename)) AS sequences",
            touched = touched.join(", "),
            catalog_rows = self.catalog_rows,
            catalogs = catalog_sql(),
        )
    }
}

/// Ranks the tables so that one referencing another by a foreign key comes first; `None`
/// when no such order exists (a cycle) or a DELETE would set off a user trigger or rule.
/// Deferrable keys are left out: the reset defers them to its commit, when every row they
/// could miss is gone. (A key to the same table is checked once its statement is done.)
async fn delete_order(
    conn: &mut PgConnection,
    tables: &[Table],
) -> Result<Option<Vec<usize>>, HarnessError> {
    let acts_on_delete: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE NOT tgisinternal AND tgtype & 8 <> 0 \
                        AND tgrelid >= 16384) \
             OR EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_type = '4' AND ev_class >= 16384)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(HarnessError::sql("looking for DELETE triggers"))?;
    if acts_on_delete {
        return Ok(None);
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('%I.%I', cn.nspname, c.relname), format('%I.%I', fn.nspname, f.relname) \
         FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
         JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace \
         WHERE k.contype = 'f' AND k.conrelid <> k.confrelid AND NOT k.condeferrable",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(HarnessError::sql("listing foreign keys"))?;
    let index = |name: &str| tables.iter().position(|t| t.name == name);
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|(child, parent)| Some((index(child)?, index(parent)?)))
        .collect();
    Ok(referencing_first(tables.len(), &edges))
}

/// Kahn's algorithm over `(referencing, referenced)` edges: each table's rank, referencing
/// tables before the tables they reference; `None` on a cycle.
fn referencing_first(n: usize, edges: &[(usize, usize)]) -> Option<Vec<usize>> {
    let mut waiting_on = vec![0_usize; n];
    for &(_, parent) in edges {
        waiting_on[parent] += 1;
    }
    let mut ready: Vec<usize> = (0..n).filter(|&t| waiting_on[t] == 0).collect();
    let mut rank = vec![usize::MAX; n];
    let mut next = 0;
    while let Some(table) = ready.pop() {
        rank[table] = next;
        next += 1;
        for &(child, parent) in edges {
            if child == table {
                waiting_on[parent] -= 1;
                if waiting_on[parent] == 0 {
                    ready.push(parent);
                }
            }
        }
    }
    (next == n).then_some(rank)
}

/// A condition true for rows written by transactions at or after the watermark. `age()`
/// counts back from the current transaction's view of the next id, so both sides are
/// measured from the same point: newer rows are younger than the watermark. The watermark's
/// age comes from the CTE [`WATERMARK_AGE`], computed once per execution. (That alone does
/// not keep PostgreSQL from planning the query anew at every execution: see
/// [`Profile::reset`] for what does.)
const NEWER_THAN_WATERMARK: &str = "age(xmin) <= (SELECT a FROM watermark)";

/// Binds the watermark (`$1`, a 64-bit transaction id) for [`NEWER_THAN_WATERMARK`].
const WATERMARK_AGE: &str =
    "WITH watermark AS MATERIALIZED (SELECT age(($1::int8 % 4294967296)::text::xid) AS a)";

/// One row: how many catalog rows describe objects created after initdb (`rows`), and
/// whether any was written at or after the watermark `$1` (`fresh`). One scan per catalog.
fn catalog_sql() -> String {
    let newer = NEWER_THAN_WATERMARK;
    let parts: Vec<String> = CATALOGS
        .iter()
        .map(|(catalog, key)| {
            format!(
                "SELECT count(*) AS n, coalesce(bool_or({newer}), false) AS f \
                 FROM pg_catalog.{catalog} WHERE {key}::oid >= {FIRST_NORMAL_OBJECT_ID}"
            )
        })
        .collect();
    format!(
        "SELECT sum(n)::int8 AS rows, bool_or(f) AS fresh FROM ({}) parts",
        parts.join(" UNION ALL ")
    )
}

/// What a test may have set on its session, undone for the next test, so that a warm
/// session shows it nothing a fresh one would not. (DISCARD ALL would also drop sqlx's
/// prepared statements, which its cache still lists, and the reset's own plan.)
const SESSION_RESET: &str = "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; \
                             UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; \
                             DISCARD SEQUENCES";

/// A used clone made clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cleaned {
    /// The clean clone's watermark.
    pub(crate) watermark: u64,
    /// Whether it had to be made anew (which ended every session in it).
    pub(crate) recreated: bool,
}

/// Resets `conn`'s session and the clone `name` it is connected to; recreates the clone if
/// a reset cannot make it clean.
pub(crate) async fn clean(
    session: &Session,
    name: &str,
    conn: &mut PgConnection,
    watermark: u64,
) -> Result<Cleaned, HarnessError> {
    let reset = match profile(session) {
        // Without the template's profile, nothing tells what the test changed.
        None => Ok(Reset::Recreate),
        Some(profile) => profile.reset(conn, watermark, Some(SESSION_RESET)).await,
    };
    match reset {
        Ok(Reset::Untouched) => Ok(Cleaned {
            watermark,
            recreated: false,
        }),
        Ok(Reset::Cleaned { watermark }) => Ok(Cleaned {
            watermark,
            recreated: false,
        }),
        Ok(Reset::Recreate) | Err(_) => {
            if let Err(err) = &reset {
                tracing::info!(database = name, %err, "persistence: recreating a clone the reset could not clean");
            }
            Ok(Cleaned {
                watermark: create_clone(session, name, true).await?,
                recreated: true,
            })
        }
    }
}

/// The profiles this process knows, by template key: a template never changes under its
/// key, so each is read once (from a clean clone, or from the file a first process wrote).
static PROFILES: Mutex<Option<HashMap<String, Arc<Profile>>>> = Mutex::new(None);

/// Makes sure the profile of the session's template is known before the clean clone `name`
/// is handed to a test: read from its file, else from the clone itself (then written to
/// the file for the other processes).
pub(crate) async fn know_profile(session: &Session, name: &str) -> Result<(), HarnessError> {
    if profile(session).is_some() {
        return Ok(());
    }
    let mut conn = session.connect(name).await?;
    let read = Profile::read(&mut conn).await;
    let _ = conn.close().await;
    let profile = Arc::new(read?);
    let path = session.files().profile(&session.names.key);
    // Written whole under another name, then renamed: a reader never sees half of it.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = serde_json::to_vec(&*profile)
        .ok()
        .and_then(|bytes| std::fs::write(&tmp, bytes).ok())
        .and_then(|()| std::fs::rename(&tmp, &path).ok());
    if written.is_none() {
        let _ = std::fs::remove_file(&tmp);
    }
    remember(&session.names.key, profile);
    Ok(())
}

/// The template's profile, if this process has it or a first process wrote it to its file
/// (so that a `cargo nextest` process needs no query for it).
fn profile(session: &Session) -> Option<Arc<Profile>> {
    let key = &session.names.key;
    let known = PROFILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|profiles| profiles.get(key).cloned());
    if known.is_some() {
        return known;
    }
    let profile = Arc::new(load_profile(session.files(), key)?);
    remember(key, profile.clone());
    Some(profile)
}

fn remember(key: &str, profile: Arc<Profile>) {
    PROFILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key.to_owned(), profile);
}

/// The profile of the template `key` from its file, if a process wrote it.
pub(crate) fn load_profile(files: &ServerFiles, key: &str) -> Option<Profile> {
    let bytes = std::fs::read(files.profile(key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::referencing_first;

    #[test]
    fn referencing_tables_come_first_and_cycles_have_no_order() {
        // 0 customers <- 1 orders <- 2 order_lines; 3 alone.
        let rank = referencing_first(4, &[(1, 0), (2, 1), (2, 0)]).expect("an order");
        assert!(rank[2] < rank[1] && rank[1] < rank[0]);
        assert!(rank[3] < 4);
        assert_eq!(referencing_first(2, &[(0, 1), (1, 0)]), None);
        assert_eq!(referencing_first(0, &[]), Some(vec![]));
    }
}
