//! Rows of `page_versions`.

use fake::faker::lorem::en::Sentence;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::parent_id;
use super::{BlockFactory, Page, PageFactory, PageVersion, User, draw};

/// A version that is not stored yet, as made by [`PageVersionFactory::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPageVersion {
    /// The page; `None` makes [`insert`](Self::insert) create one with [`PageFactory`].
    pub page_id: Option<i64>,
    /// Version number; `None` takes the page's next one (1 for its first version).
    pub version: Option<i32>,
    /// Page-level settings (a JSON object).
    pub content: Value,
    /// The author; `None` makes the owner of the page's site the author.
    pub author_id: Option<i64>,
}

impl NewPageVersion {
    /// Inserts this version (and a page first when it has none) and returns the stored row.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<PageVersion> {
        // Not `PageFactory::insert`: that one may insert versions.
        let page_id = parent_id(self.page_id, async || {
            Ok(PageFactory::new().build().insert(&mut *conn).await?.id)
        })
        .await?;
        sqlx::query_as::<_, PageVersion>(
            "INSERT INTO page_versions (page_id, version, content, author_id) \
             VALUES ($1, \
                     COALESCE($2, (SELECT COALESCE(max(version), 0) + 1 \
                                   FROM page_versions WHERE page_id = $1)), \
                     $3, \
                     COALESCE($4, (SELECT s.owner_id FROM pages p \
                                   JOIN sites s ON s.id = p.site_id WHERE p.id = $1))) \
             RETURNING *",
        )
        .bind(page_id)
        .bind(self.version)
        .bind(self.content)
        .bind(self.author_id)
        .fetch_one(conn)
        .await
    }
}

/// Makes [`NewPageVersion`]s and [`PageVersion`] rows with fake data.
///
/// Without overrides a version gets the page's next number, fake SEO settings as content,
/// the site's owner as author and no blocks; [`insert`](Self::insert) creates its page
/// (and site, and owner) when none was given.
///
/// ```
/// use page_builder::factories::PageVersionFactory;
///
/// let version = PageVersionFactory::new().page_id(1).version(2).build();
/// assert_eq!(version.version, Some(2));
/// assert!(version.content["seo"]["title"].is_string());
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct PageVersionFactory {
    page_id: Option<i64>,
    version: Option<i32>,
    content: Option<Value>,
    author_id: Option<i64>,
    blocks: usize,
    current: bool,
}

impl PageVersionFactory {
    /// A factory that fakes every field and creates the page on insert.
    pub fn new() -> Self {
        Self::default()
    }

    overrides! {
        /// Makes this a version of `page`.
        page(&Page) => page_id;

        /// Makes this a version of the page with this id.
        page_id: i64;

        /// Uses this version number instead of the page's next one.
        version: i32;

        /// Uses this content (it must be a JSON object).
        content: Value;

        /// Makes `author` the author.
        author(&User) => author_id;

        /// Makes the user with this id the author.
        author_id: i64;
    }

    /// On insert, also creates `count` fake blocks at positions `0..count`.
    pub fn blocks(mut self, count: usize) -> Self {
        self.blocks = count;
        self
    }

    /// On insert, also makes this version the page's current one.
    pub fn current(mut self) -> Self {
        self.current = true;
        self
    }

    /// A new version with the overrides and fake data for the rest; no database needed.
    ///
    /// Blocks and the current-version pointer are written by [`insert`](Self::insert) only.
    pub fn build(&self) -> NewPageVersion {
        NewPageVersion {
            page_id: self.page_id,
            version: self.version,
            content: self.content.clone().unwrap_or_else(fake_content),
            author_id: self.author_id,
        }
    }

    /// Builds a version and inserts it (and its page, when none was given), then its
    /// blocks, then points the page at it when [`current`](Self::current) was asked for.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<PageVersion> {
        let version = self.build().insert(&mut *conn).await?;
        for position in 0..i32::try_from(self.blocks).unwrap_or(i32::MAX) {
            BlockFactory::new()
                .page_version(&version)
                .position(position)
                .insert(&mut *conn)
                .await?;
        }
        if self.current {
            sqlx::query("UPDATE pages SET current_version_id = $1 WHERE id = $2")
                .bind(version.id)
                .bind(version.page_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(version)
    }
}

/// Page-level settings as the editor saves them.
fn fake_content() -> Value {
    let title: String = draw(Sentence(2..5));
    let description: String = draw(Sentence(8..16));
    let layout = ["default", "article", "landing"][draw::<usize, _>(0..3usize)];
    json!({
        "seo": {
            "title": title.trim_end_matches('.'),
            "description": description,
        },
        "layout": layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_a_json_object() {
        for _ in 0..100 {
            let version = PageVersionFactory::new().build();
            assert!(version.content.is_object());
            assert!(version.content["seo"]["title"].is_string());
            assert!(version.content["layout"].is_string());
            assert_eq!(version.version, None);
            assert_eq!(version.page_id, None);
            assert_eq!(version.author_id, None);
        }
    }

    #[test]
    fn overrides_are_respected() {
        let content = json!({"layout": "blank"});
        let version = PageVersionFactory::new()
            .page_id(5)
            .version(3)
            .author_id(2)
            .content(content.clone())
            .build();
        assert_eq!(
            version,
            NewPageVersion {
                page_id: Some(5),
                version: Some(3),
                content,
                author_id: Some(2),
            }
        );
    }
}
