//! Rows of `pages`.

use std::fmt;
use std::str::FromStr;

use fake::faker::lorem::en::Words;
use sqlx::PgConnection;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};

use super::{Page, PageVersionFactory, Site, SiteFactory, draw, slug_with_token};
use super::{insert_rows, parent_id};

/// The `pages.status` column: `draft`, `published` or `archived`.
///
/// Binds and decodes as `text`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PageStatus {
    /// Being edited; not visible to visitors.
    #[default]
    Draft,
    /// Visible to visitors; the row has a `published_at`.
    Published,
    /// Taken down; kept for history.
    Archived,
}

impl PageStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PageStatus; 3] = [Self::Draft, Self::Published, Self::Archived];

    /// The value stored in `pages.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }
}

impl fmt::Display for PageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `pages.status` value that is not `draft`, `published` or `archived`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePageStatusError(String);

impl fmt::Display for ParsePageStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown page status {:?} (expected draft, published or archived)",
            self.0
        )
    }
}

impl std::error::Error for ParsePageStatusError {}

impl FromStr for PageStatus {
    type Err = ParsePageStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParsePageStatusError(s.to_owned()))
    }
}

impl sqlx::Type<Postgres> for PageStatus {
    fn type_info() -> PgTypeInfo {
        <str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, Postgres> for PageStatus {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as sqlx::Encode<'_, Postgres>>::encode(self.as_str(), buf)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for PageStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as sqlx::Decode<'r, Postgres>>::decode(value)?;
        Ok(text.parse()?)
    }
}

/// A page that is not stored yet, as made by [`PageFactory::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPage {
    /// The site; `None` makes [`insert`](Self::insert) create one with [`SiteFactory`].
    pub site_id: Option<i64>,
    /// Slug, unique within the site.
    pub slug: String,
    /// Title shown to visitors.
    pub title: String,
    /// Lifecycle state; a published page gets `published_at = now()`.
    pub status: PageStatus,
}

impl NewPage {
    /// Inserts this page (and a site first when it has none) and returns the stored row.
    ///
    /// The page has no version; see [`PageFactory::blocks`] for one that has.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Page> {
        let site_id = parent_id(self.site_id, async || {
            Ok(SiteFactory::new().insert(&mut *conn).await?.id)
        })
        .await?;
        sqlx::query_as::<_, Page>(
            "INSERT INTO pages (site_id, slug, title, status, published_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'published' THEN now() END) \
             RETURNING *",
        )
        .bind(site_id)
        .bind(self.slug)
        .bind(self.title)
        .bind(self.status)
        .fetch_one(conn)
        .await
    }
}

/// Makes [`NewPage`]s and [`Page`] rows with fake data.
///
/// Without overrides a page is a draft with a title of a few lorem words and a slug made
/// from it plus a unique token; [`insert`](Self::insert) creates its site (and owner).
///
/// ```
/// use page_builder::factories::{PageFactory, PageStatus};
///
/// let page = PageFactory::new().site_id(1).title("About Us").published().build();
/// assert!(page.slug.starts_with("about-us-"));
/// assert_eq!(page.status, PageStatus::Published);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct PageFactory {
    site_id: Option<i64>,
    slug: Option<String>,
    title: Option<String>,
    status: PageStatus,
    blocks: Option<usize>,
}

impl PageFactory {
    /// A factory for a draft page that fakes every field and creates the site on insert.
    pub fn new() -> Self {
        Self::default()
    }

    overrides! {
        /// Puts the page on `site`.
        site(&Site) => site_id;

        /// Puts the page on the site with this id.
        site_id: i64;

        /// Uses this slug as is (it is not made unique).
        slug: into String;

        /// Uses this title; a faked slug is then derived from it.
        title: into String;
    }

    /// Sets the status (default [`PageStatus::Draft`]).
    pub fn status(mut self, status: PageStatus) -> Self {
        self.status = status;
        self
    }

    /// Makes the page a draft (the default).
    pub fn draft(self) -> Self {
        self.status(PageStatus::Draft)
    }

    /// Makes the page published; on insert `published_at` is the transaction's `now()`.
    pub fn published(self) -> Self {
        self.status(PageStatus::Published)
    }

    /// Makes the page archived.
    pub fn archived(self) -> Self {
        self.status(PageStatus::Archived)
    }

    /// On insert, also creates version 1 with `count` fake blocks (0 for an empty version)
    /// and makes it the page's current version.
    pub fn blocks(mut self, count: usize) -> Self {
        self.blocks = Some(count);
        self
    }

    /// A new page with the overrides and fake data for the rest; no database needed.
    ///
    /// The version asked for with [`blocks`](Self::blocks) is made by
    /// [`insert`](Self::insert) only.
    pub fn build(&self) -> NewPage {
        let title = self.title.clone().unwrap_or_else(fake_title);
        let slug = self
            .slug
            .clone()
            .unwrap_or_else(|| slug_with_token(&title, "page"));
        NewPage {
            site_id: self.site_id,
            slug,
            title,
            status: self.status,
        }
    }

    /// Builds a page and inserts it (and its site, when none was given), then its first
    /// version when [`blocks`](Self::blocks) asked for one.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Page> {
        let mut page = self.build().insert(&mut *conn).await?;
        if let Some(count) = self.blocks {
            let version = PageVersionFactory::new()
                .page(&page)
                .blocks(count)
                .current()
                .insert(&mut *conn)
                .await?;
            // Read back as stored: pointing at the version also touched `updated_at`.
            page = sqlx::query_as::<_, Page>("SELECT * FROM pages WHERE id = $1")
                .bind(version.page_id)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(page)
    }

    /// Builds and inserts `count` pages, in order. Without a site, each gets its own.
    pub async fn insert_many(
        &self,
        count: usize,
        conn: &mut PgConnection,
    ) -> sqlx::Result<Vec<Page>> {
        insert_rows(count, conn, async |conn| self.clone().insert(conn).await).await
    }
}

/// Two to four lorem words, capitalized: `Dolor Sit Amet`.
fn fake_title() -> String {
    let words: Vec<String> = draw(Words(2..5));
    words
        .iter()
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::is_valid_slug;
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slugs_are_valid_and_unique() {
        let factory = PageFactory::new();
        let slugs: HashSet<String> = (0..1000)
            .map(|_| {
                let page = factory.build();
                assert!(is_valid_slug(&page.slug), "{}", page.slug);
                assert!(!page.title.trim().is_empty());
                assert_eq!(page.status, PageStatus::Draft);
                assert_eq!(page.site_id, None);
                page.slug
            })
            .collect();
        assert_eq!(slugs.len(), 1000);
    }

    #[test]
    fn overrides_are_respected() {
        let page = PageFactory::new()
            .site_id(3)
            .slug("about")
            .title("About us")
            .archived()
            .build();
        assert_eq!(
            page,
            NewPage {
                site_id: Some(3),
                slug: "about".into(),
                title: "About us".into(),
                status: PageStatus::Archived,
            }
        );
        assert_eq!(
            PageFactory::new().published().build().status,
            PageStatus::Published
        );
        assert_eq!(
            PageFactory::new().published().draft().build().status,
            PageStatus::Draft
        );
    }

    #[test]
    fn titles_are_capitalized_words() {
        for _ in 0..100 {
            let title = fake_title();
            let words: Vec<&str> = title.split(' ').collect();
            assert!((2..5).contains(&words.len()), "{title}");
            assert!(
                words
                    .iter()
                    .all(|w| w.chars().next().is_some_and(char::is_uppercase)),
                "{title}"
            );
        }
    }

    #[test]
    fn status_round_trips_through_text() {
        for status in PageStatus::ALL {
            assert_eq!(status.as_str().parse::<PageStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        let err = "live".parse::<PageStatus>().err();
        assert_eq!(err, Some(ParsePageStatusError("live".into())));
    }
}
