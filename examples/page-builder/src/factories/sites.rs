//! Rows of `sites`.

use fake::faker::company::en::CompanyName;
use sqlx::PgConnection;

use super::{Site, User, UserFactory, draw, slug_with_token};
use super::{insert_rows, parent_id};

/// A site that is not stored yet, as made by [`SiteFactory::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSite {
    /// The owner; `None` makes [`insert`](Self::insert) create one with [`UserFactory`].
    pub owner_id: Option<i64>,
    /// Globally unique slug.
    pub slug: String,
    /// Name shown to visitors.
    pub name: String,
}

impl NewSite {
    /// Inserts this site (and an owner first when it has none) and returns the stored row.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Site> {
        let owner_id = parent_id(self.owner_id, async || {
            Ok(UserFactory::new().insert(&mut *conn).await?.id)
        })
        .await?;
        sqlx::query_as::<_, Site>(
            "INSERT INTO sites (owner_id, slug, name) VALUES ($1, $2, $3) \
             RETURNING *",
        )
        .bind(owner_id)
        .bind(self.slug)
        .bind(self.name)
        .fetch_one(conn)
        .await
    }
}

/// Makes [`NewSite`]s and [`Site`] rows with fake data.
///
/// Without overrides a site gets a fake company name and a slug made from it plus a unique
/// token (`acme-corp-k3x9f20`), and [`insert`](Self::insert) creates its owner.
///
/// ```
/// use page_builder::factories::SiteFactory;
///
/// let site = SiteFactory::new().owner_id(1).name("Ada's Notes").build();
/// assert!(site.slug.starts_with("ada-s-notes-"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SiteFactory {
    owner_id: Option<i64>,
    slug: Option<String>,
    name: Option<String>,
}

impl SiteFactory {
    /// A factory that fakes every field and creates the owner on insert.
    pub fn new() -> Self {
        Self::default()
    }

    overrides! {
        /// Makes `owner` the owner.
        owner(&User) => owner_id;

        /// Makes the user with this id the owner.
        owner_id: i64;

        /// Uses this slug as is (it is not made unique).
        slug: into String;

        /// Uses this name; a faked slug is then derived from it.
        name: into String;
    }

    /// A new site with the overrides and fake data for the rest; no database needed.
    pub fn build(&self) -> NewSite {
        let name = self.name.clone().unwrap_or_else(|| draw(CompanyName()));
        let slug = self
            .slug
            .clone()
            .unwrap_or_else(|| slug_with_token(&name, "site"));
        NewSite {
            owner_id: self.owner_id,
            slug,
            name,
        }
    }

    /// Builds a site and inserts it (and its owner, when none was given).
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Site> {
        self.build().insert(conn).await
    }

    /// Builds and inserts `count` sites, in order. Without an owner, each gets its own.
    pub async fn insert_many(
        &self,
        count: usize,
        conn: &mut PgConnection,
    ) -> sqlx::Result<Vec<Site>> {
        insert_rows(count, conn, async |conn| self.build().insert(conn).await).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::is_valid_slug;
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slugs_are_valid_and_unique() {
        let factory = SiteFactory::new();
        let slugs: HashSet<String> = (0..1000)
            .map(|_| {
                let site = factory.build();
                assert!(is_valid_slug(&site.slug), "{}", site.slug);
                assert!(site.slug.len() <= 63, "{}", site.slug);
                assert!(!site.name.trim().is_empty());
                site.slug
            })
            .collect();
        assert_eq!(slugs.len(), 1000);
    }

    #[test]
    fn long_and_odd_names_make_valid_slugs() {
        for name in [
            "x".repeat(200),
            "  --  ".to_owned(),
            "Café & Co.".to_owned(),
        ] {
            let site = SiteFactory::new().name(name).build();
            assert!(is_valid_slug(&site.slug), "{}", site.slug);
            assert!(site.slug.len() <= 63, "{}", site.slug);
        }
    }

    #[test]
    fn overrides_are_respected() {
        let site = SiteFactory::new()
            .owner_id(7)
            .slug("ada-notes")
            .name("Ada's Notes")
            .build();
        assert_eq!(
            site,
            NewSite {
                owner_id: Some(7),
                slug: "ada-notes".into(),
                name: "Ada's Notes".into(),
            }
        );
    }

    #[test]
    fn owner_comes_from_a_user() {
        let user = User {
            id: 42,
            email: "a@example.com".into(),
            display_name: "A".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(SiteFactory::new().owner(&user).build().owner_id, Some(42));
        assert_eq!(SiteFactory::new().build().owner_id, None);
    }
}
