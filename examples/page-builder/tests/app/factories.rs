//! The factories write realistic rows that satisfy the schema's constraints, parents included.

use page_builder::factories::{BlockFactory, PageFactory, PageStatus, SiteFactory, UserFactory};
use persistence::db_test;
use sqlx::PgConnection;

#[db_test]
async fn a_published_page_with_blocks_and_all_its_parents(
    conn: &mut PgConnection,
) -> sqlx::Result<()> {
    let owner = UserFactory::new()
        .email("ada@example.com")
        .insert(conn)
        .await?;
    let site = SiteFactory::new().owner(&owner).insert(conn).await?;
    let page = PageFactory::new()
        .site(&site)
        .published()
        .blocks(3)
        .insert(conn)
        .await?;
    assert_eq!(page.status, PageStatus::Published.as_str());
    let version = page.current_version_id.expect("a current version");
    let blocks: i64 = sqlx::query_scalar("SELECT count(*) FROM blocks WHERE page_version_id = $1")
        .bind(version)
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(blocks, 3);
    // The deferred constraints (current version, block positions) hold at commit time.
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[db_test]
async fn many_fake_users_never_collide(conn: &mut PgConnection) -> sqlx::Result<()> {
    for _ in 0..50 {
        UserFactory::new().insert(conn).await?;
    }
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT lower(email)) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(distinct, 50);
    Ok(())
}

#[db_test]
async fn a_block_without_parents_creates_them(conn: &mut PgConnection) -> sqlx::Result<()> {
    let block = BlockFactory::new().kind("heading").insert(conn).await?;
    assert_eq!(block.position, 0);
    let pages: i64 = sqlx::query_scalar("SELECT count(*) FROM pages")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(pages, 1);
    Ok(())
}

/// What a test named `name` builds, run through the harness's entry point as `#[db_test]`
/// would run it.
fn built_by(name: &'static str) -> (NewUserValues, Vec<String>) {
    let spec = persistence::testing::TestSpec::new(name);
    persistence::testing::run::without_database(&spec, async {
        let user = UserFactory::new().build();
        let slugs = (0..3).map(|_| PageFactory::new().build().slug).collect();
        Ok::<_, std::convert::Infallible>(((user.email, user.display_name), slugs))
    })
    .expect("infallible")
}

type NewUserValues = (String, String);

#[test]
fn a_test_builds_the_same_values_every_time_it_runs_in_a_run() {
    let first = built_by("factories::seeded::a");
    assert_eq!(built_by("factories::seeded::a"), first);
    assert_ne!(built_by("factories::seeded::b"), first);
}
