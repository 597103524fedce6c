//! The generated models (`page_builder::models`) read every table back: a row of
//! each, written with the factories (and the health check's checked query), comes back
//! from `SELECT *` as the same struct, for every column type the schema uses (bigint,
//! integer, text, jsonb, timestamptz, nullable or not), and survives a JSON round trip.

use page_builder::factories::{BlockFactory, PageFactory, PageVersionFactory, UserFactory};
use page_builder::models::{Block, HealthCheck, Page, PageVersion, Site, User};
use persistence::db_test;
use persistence::postgres::HealthStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

/// `SELECT * FROM <table> WHERE id = $1` as `T`.
async fn select_all<T>(conn: &mut PgConnection, table: &str, id: i64) -> sqlx::Result<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = format!("SELECT * FROM {table} WHERE id = $1");
    sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(conn)
        .await
}

fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(row: &T) {
    let text = serde_json::to_string(row).expect("serializes");
    let back: T = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(&back, row, "{text}");
}

#[db_test]
async fn every_table_reads_back_into_its_generated_struct(
    conn: &mut PgConnection,
) -> anyhow::Result<()> {
    // A published page has a `published_at`; its author column is set; blocks have props.
    let page = PageFactory::new()
        .published()
        .blocks(2)
        .insert(conn)
        .await?;
    let read: Page = select_all(conn, "pages", page.id).await?;
    assert_eq!(read, page);
    assert!(read.published_at.is_some() && read.current_version_id.is_some());
    json_round_trip(&read);

    let site: Site = select_all(conn, "sites", page.site_id).await?;
    let owner: User = select_all(conn, "users", site.owner_id).await?;
    json_round_trip(&site);
    json_round_trip(&owner);
    assert!(owner.email.contains('@'));

    let version = PageVersionFactory::new().page(&page).insert(conn).await?;
    let read: PageVersion = select_all(conn, "page_versions", version.id).await?;
    assert_eq!(read, version);
    assert_eq!(read.author_id, Some(owner.id));
    assert!(read.content.is_object());
    json_round_trip(&read);

    let block = BlockFactory::new()
        .page_version(&version)
        .kind("heading")
        .insert(conn)
        .await?;
    let read: Block = select_all(conn, "blocks", block.id).await?;
    assert_eq!(read, block);
    assert!(read.props["text"].is_string());
    json_round_trip(&read);

    // A draft: the nullable timestamp comes back as None.
    let draft = PageFactory::new().insert(conn).await?;
    let read: Page = select_all(conn, "pages", draft.id).await?;
    assert_eq!((read.published_at, read.current_version_id), (None, None));
    assert_eq!(read, draft);
    Ok(())
}

#[db_test]
async fn the_checked_queries_write_and_read_the_models(
    conn: &mut PgConnection,
) -> anyhow::Result<()> {
    assert_eq!(HealthCheck::latest(&mut *conn).await?, None);
    let first = HealthCheck::record(&mut *conn, HealthStatus::Warn, None).await?;
    let second = HealthCheck::record(&mut *conn, HealthStatus::Pass, Some("deploy 42")).await?;
    assert_eq!(
        (first.status.as_str(), first.note.as_deref()),
        ("warn", None)
    );
    assert_eq!(second.note.as_deref(), Some("deploy 42"));
    let read: HealthCheck = select_all(conn, "health_check", second.id).await?;
    assert_eq!(read, second);
    json_round_trip(&read);
    // `now()` is frozen in the test's transaction: the newer id wins the tie.
    assert_eq!(HealthCheck::latest(&mut *conn).await?, Some(second));

    let user = UserFactory::new()
        .email("Grace.Hopper@Example.com")
        .insert(conn)
        .await?;
    assert_eq!(
        User::by_email(&mut *conn, "grace.hopper@example.COM").await?,
        Some(user)
    );
    assert_eq!(
        User::by_email(&mut *conn, "nobody@example.com").await?,
        None
    );
    Ok(())
}
