//! `persistence studio` with hostile names: a table `a"b; drop table x` with a column
//! `c"d; drop table y` is listed, paged, sorted, filtered, searched and edited, and no name or
//! value runs as SQL (the tables `x` and `y` survive, the values arrive as typed).

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::server::url_for;
use crate::support::studio::{Studio, field_of, hidden_fields, path, row_page, unescape};
use crate::support::tempdir::temp_dir;

const TABLE: &str = "a\"b; drop table x";
const COLUMN: &str = "c\"d; drop table y";
/// A value that would end a string literal and drop a table if it were pasted into SQL.
const VALUE: &str = "x'); drop table x; --";

async fn setup(db: &TestDb) {
    sqlx::raw_sql(
        r#"CREATE TABLE x (id int); CREATE TABLE y (id int);
           CREATE TABLE "a""b; drop table x" (
               id int PRIMARY KEY,
               "c""d; drop table y" text,
               "n' OR 1=1 --" int
           );
           INSERT INTO "a""b; drop table x"
           SELECT i, 'v' || i, i * 10 FROM generate_series(1, 120) AS i;"#,
    )
    .execute(db.pool())
    .await
    .expect("hostile table");
}

async fn value_of(db: &TestDb, id: i32) -> Option<String> {
    sqlx::query_scalar(r#"SELECT "c""d; drop table y" FROM "a""b; drop table x" WHERE id = $1"#)
        .bind(id)
        .fetch_one(db.pool())
        .await
        .expect("value")
}

async fn assert_survivors(db: &TestDb) {
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('x', 'y')",
    )
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(tables, 2, "x and y are still there");
}

fn rows_line(body: &str) -> String {
    let start = body.find("<p class=\"pager\">").expect("a pager");
    let end = body[start..].find("</p>").expect("end") + start;
    unescape(&body[start + 17..end])
}

#[db_test(isolation = "database", migrations = false)]
async fn hostile_names_are_listed_paged_filtered_and_edited(db: TestDb) {
    setup(&db).await;
    let dir = temp_dir("studio-hostile");
    let url = url_for(db.name()).await;
    let studio = Studio::start(dir.path(), &["--database-url", &url], &[]);

    let index = studio.get("/");
    assert_eq!(index.status, 200);
    assert!(
        index.body.contains("a&quot;b; drop table x</a>"),
        "listed, escaped: {}",
        index.body
    );
    let table = |params: &[(&str, &str)]| {
        let mut all = vec![("s", "public"), ("t", TABLE)];
        all.extend_from_slice(params);
        let reply = studio.get(&path("/table", &all));
        assert_eq!(reply.status, 200, "{params:?}: {}", reply.body);
        reply.body
    };

    let first = table(&[]);
    assert!(
        first.contains("c&quot;d; drop table y"),
        "the column is listed"
    );
    assert!(
        rows_line(&first).starts_with("Rows 1–50 of 120"),
        "{}",
        rows_line(&first)
    );
    let third = table(&[("page", "2")]);
    assert!(rows_line(&third).starts_with("Rows 101–120 of 120"));
    assert!(
        third.contains(">v101<") && third.contains(">v120<") && !third.contains(">v99<"),
        "the third page holds ids 101 to 120 (sorted as numbers)"
    );

    let sorted = table(&[("sort", COLUMN), ("desc", "1")]);
    let first_value = sorted.find(">v99<").expect("v99 shown");
    assert!(
        first_value < sorted.find(">v98<").expect("v98 shown"),
        "sorted as text, descending"
    );

    let by_number = table(&[("sort", "n' OR 1=1 --"), ("desc", "1")]);
    assert!(
        by_number.find(">1200<").expect("1200") < by_number.find(">1190<").expect("1190"),
        "sorted as numbers, descending"
    );

    let equal = table(&[("fc", COLUMN), ("fo", "eq"), ("fv", "v7")]);
    assert!(
        rows_line(&equal).starts_with("Rows 1–1 of 1"),
        "{}",
        rows_line(&equal)
    );
    let contains = table(&[("fc", COLUMN), ("fo", "contains"), ("fv", "V11")]);
    // v11, v110..v119
    assert!(
        rows_line(&contains).starts_with("Rows 1–11 of 11"),
        "{}",
        rows_line(&contains)
    );
    let other = table(&[("fc", "n' OR 1=1 --"), ("fo", "eq"), ("fv", "70")]);
    assert!(
        rows_line(&other).starts_with("Rows 1–1 of 1"),
        "{}",
        rows_line(&other)
    );
    let nothing = table(&[("fc", COLUMN), ("fo", "eq"), ("fv", VALUE)]);
    assert!(rows_line(&nothing).starts_with("No rows"));
    let search = table(&[("q", "v119")]);
    assert!(rows_line(&search).starts_with("Rows 1–1 of 1"));
    assert_survivors(&db).await;

    // Edit the hostile column of row 7 to a hostile value.
    let row = studio.get(&row_page(TABLE, "7"));
    assert_eq!(row.status, 200, "{}", row.body);
    let mut form = hidden_fields(&row.body, "/update");
    form.push((field_of(&form, COLUMN), VALUE.to_owned()));
    let saved = studio.post("/update", &form);
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(value_of(&db, 7).await.as_deref(), Some(VALUE));

    // NULL through the toggle, then filter on it.
    let row = studio.get(&row_page(TABLE, "8"));
    let mut form = hidden_fields(&row.body, "/update");
    let null = field_of(&form, COLUMN).replacen('v', "n", 1);
    form.push((null, "on".to_owned()));
    assert_eq!(studio.post("/update", &form).status, 303);
    assert_eq!(value_of(&db, 8).await, None);
    let nulls = table(&[("fc", COLUMN), ("fo", "null"), ("fv", "")]);
    assert!(rows_line(&nulls).starts_with("Rows 1–1 of 1"));
    assert!(nulls.contains("<span class=\"null\">NULL</span>"));

    // Insert and delete a row.
    let new = studio.get(&path("/new", &[("s", "public"), ("t", TABLE)]));
    let mut form = hidden_fields(&new.body, "/insert");
    form.push((field_of(&form, "id"), "500".to_owned()));
    form.push((field_of(&form, COLUMN), VALUE.to_owned()));
    let inserted = studio.post("/insert", &form);
    assert_eq!(inserted.status, 303, "{}", inserted.body);
    assert_eq!(value_of(&db, 500).await.as_deref(), Some(VALUE));
    let row = studio.get(&row_page(TABLE, "500"));
    let deleted = studio.post("/delete", &hidden_fields(&row.body, "/delete"));
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    let left: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM "a""b; drop table x""#)
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(left, 120);
    assert_survivors(&db).await;
}
