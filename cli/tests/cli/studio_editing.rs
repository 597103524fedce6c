//! `persistence studio` pages and writes on the tests' schema: NULL apart from the empty
//! string, jsonb indented, long text folded, foreign keys followed both ways; writes refused
//! with the server's message on a constraint violation, and with a clear message when the row
//! changed since the page showed it; `--read-only` allows no write at all.

use persistence::db_test;
use persistence::testing::TestDb;

use crate::support::server::url_for;
use crate::support::studio::{
    Studio, field_of, hidden_fields, path, request, row_page, table_page, text_of,
};
use crate::support::tempdir::temp_dir;

async fn title_of(db: &TestDb, id: i64) -> String {
    text_of(db, "SELECT title FROM posts WHERE id = $1", id).await
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users", "blogs", "posts")
)]
async fn values_show_as_they_are_and_keys_link_both_ways(db: TestDb) {
    sqlx::query("UPDATE posts SET title = '' WHERE id = 2")
        .execute(db.pool())
        .await
        .expect("empty title");
    sqlx::query("UPDATE blogs SET name = repeat('long name ', 20) WHERE id = 2")
        .execute(db.pool())
        .await
        .expect("long name");
    let dir = temp_dir("studio-values");
    let studio = Studio::start(
        dir.path(),
        &["--database-url", &url_for(db.name()).await],
        &[],
    );

    let index = studio.get("/");
    assert!(
        index
            .body
            .contains(">posts</a></td><td class=\"type\">table</td><td class=\"num count\">2<")
    );
    let posts = studio.get(&table_page("posts")).body;
    assert!(
        posts.contains("<span class=\"null\">NULL</span>"),
        "published_at of post 1"
    );
    assert!(
        posts.contains("<span class=\"empty\" title=\"empty string\">''</span>"),
        "title of post 2"
    );
    // blog_id links to the blog's row.
    let blog = row_page("blogs", "1");
    assert!(
        posts.contains(&format!("href=\"{}\"", blog.replace('&', "&amp;"))),
        "{posts}"
    );

    let revisions = studio.get(&table_page("revisions")).body;
    assert!(
        revisions.contains("<pre class=\"json\">{\n  &quot;layout&quot;: &quot;article&quot;"),
        "jsonb indented: {revisions}"
    );
    let blogs = studio.get(&table_page("blogs")).body;
    assert!(
        blogs.contains("<details><summary>long name long name"),
        "long text folded"
    );

    // The blog's row lists the posts that reference it, linked to them.
    let blog_row = studio.get(&blog).body;
    assert!(
        blog_row.contains("public.posts</a> (blog_id): 2 row(s)"),
        "{blog_row}"
    );
    let referencing = path(
        "/table",
        &[
            ("s", "public"),
            ("t", "posts"),
            ("fc", "blog_id"),
            ("fo", "eq"),
            ("fv", "1"),
        ],
    );
    assert!(blog_row.contains(&referencing.replace('&', "&amp;")));
    let filtered = studio.get(&referencing).body;
    assert!(filtered.contains("Rows 1–2 of 2"));
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users", "blogs", "posts")
)]
async fn writes_are_checked_by_the_server_and_against_the_page(db: TestDb) {
    let dir = temp_dir("studio-writes");
    let studio = Studio::start(
        dir.path(),
        &["--database-url", &url_for(db.name()).await],
        &[],
    );

    // A constraint violation: the server's message, nothing written.
    let page = studio.get(&row_page("posts", "2")).body;
    let mut form = hidden_fields(&page, "/update");
    form.push((field_of(&form, "slug"), "about".to_owned()));
    let refused = studio.post("/update", &form);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("the database refused: duplicate key value violates unique constraint"),
        "{}",
        refused.body
    );
    let status = studio.get(&row_page("posts", "2")).body;
    let mut form = hidden_fields(&status, "/update");
    form.push((field_of(&form, "status"), "lost".to_owned()));
    let refused = studio.post("/update", &form);
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("check constraint"),
        "{}",
        refused.body
    );

    // The row changes after the page was shown: refused, the other change stays.
    let page = studio.get(&row_page("posts", "1")).body;
    sqlx::query("UPDATE posts SET title = 'Changed elsewhere' WHERE id = 1")
        .execute(db.pool())
        .await
        .expect("concurrent change");
    let mut form = hidden_fields(&page, "/update");
    form.push((field_of(&form, "slug"), "about-ada".to_owned()));
    let stale = studio.post("/update", &form);
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(
        stale.body.contains("the row changed since it was shown"),
        "{}",
        stale.body
    );
    assert_eq!(title_of(&db, 1).await, "Changed elsewhere");
    let slug: String = sqlx::query_scalar("SELECT slug FROM posts WHERE id = 1")
        .fetch_one(db.pool())
        .await
        .expect("slug");
    assert_eq!(slug, "about");
    // The same for a delete.
    let delete = hidden_fields(&page, "/delete");
    let stale = studio.post("/delete", &delete);
    assert_eq!(stale.status, 409, "{}", stale.body);

    // Typed input goes through PostgreSQL's own parsing.
    let page = studio.get(&row_page("posts", "1")).body;
    let mut form = hidden_fields(&page, "/update");
    form.push((
        field_of(&form, "published_at"),
        "yesterday at noon".to_owned(),
    ));
    let refused = studio.post("/update", &form);
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("invalid input syntax for type timestamp with time zone")
    );
    let mut form = hidden_fields(&page, "/update");
    form.push((
        field_of(&form, "published_at"),
        "2026-03-01 10:00+00".to_owned(),
    ));
    form.push((field_of(&form, "title"), "About Ada, edited".to_owned()));
    let saved = studio.post("/update", &form);
    assert_eq!(saved.status, 303, "{}", saved.body);
    let location = saved.header("location").expect("location");
    assert!(studio.get(location).body.contains("Saved."));
    assert_eq!(title_of(&db, 1).await, "About Ada, edited");
    let published: bool =
        sqlx::query_scalar("SELECT published_at = '2026-03-01 10:00+00' FROM posts WHERE id = 1")
            .fetch_one(db.pool())
            .await
            .expect("published_at");
    assert!(published);
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users", "blogs", "posts")
)]
async fn read_only_allows_no_writes(db: TestDb) {
    let dir = temp_dir("studio-read-only");
    let url = url_for(db.name()).await;
    let writable = Studio::start(dir.path(), &["--database-url", &url], &[]);
    // A form with a valid anti-forgery value, from a studio that may write.
    let page = writable.get(&row_page("posts", "1")).body;
    drop(writable);

    let studio = Studio::start(dir.path(), &["--database-url", &url, "--read-only"], &[]);
    assert!(
        studio
            .output()
            .contains("read-only: started with --read-only")
    );
    let row = studio.get(&row_page("posts", "1")).body;
    assert!(!row.contains("action=\"/update\""), "no edit form");
    assert!(row.contains("read-only"));
    let mut form = hidden_fields(&page, "/update");
    form.push((field_of(&form, "title"), "written anyway".to_owned()));
    for action in ["/update", "/delete", "/insert"] {
        let refused = studio.post(action, &form);
        assert_eq!(refused.status, 403, "{action}: {}", refused.body);
        assert!(refused.body.contains("no writes: started with --read-only"));
    }
    let new = studio.get(&path("/new", &[("s", "public"), ("t", "posts")]));
    assert_eq!(new.status, 403);
    assert_eq!(title_of(&db, 1).await, "About Ada");
    // Without the cookie it is 401 before anything else.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    assert_eq!(
        request(&studio.address, "POST", "/update", None, Some(&body)).status,
        401
    );
}
