//! Factories that make realistic rows for the page-builder models of `migrations/`.
//!
//! Each model has a factory with a small builder API. Everything not set explicitly is
//! filled with fake data from the [`fake`] crate:
//!
//! - [`UserFactory`] → [`NewUser`] / [`User`] (`users`)
//! - [`SiteFactory`] → [`NewSite`] / [`Site`] (`sites`)
//! - [`PageFactory`] → [`NewPage`] / [`Page`] (`pages`)
//! - [`PageVersionFactory`] → [`NewPageVersion`] / [`PageVersion`] (`page_versions`)
//! - [`BlockFactory`] → [`NewBlock`] / [`Block`] (`blocks`)
//!
//! `build()` needs no database and returns a plain `New*` value; `insert(conn)` writes the
//! row with `INSERT ... RETURNING` and returns the stored row. A missing parent is created on
//! the fly: a [`SiteFactory`] without an owner inserts a user first, a [`PageFactory`]
//! without a site inserts a site (and its owner), and so on.
//!
//! Inside a `#[db_test]`, every value comes from the test's seeded generator: a failing test
//! prints `PERSISTENCE_TEST_SEED=<seed>`, and running it again with that variable set builds
//! the same values (see [`persistence::testing::with_rng`]). Outside tests the values are
//! random.
//!
//! Values that must be unique (e-mail addresses, slugs) end with the harness's
//! [`unique_token`]: a nonce drawn from that generator and a counter, unique within a test
//! (or, outside tests, within the process), and different across tests with overwhelming
//! probability.
//!
//! The rows returned are the generated models of [`crate::models`] with every column;
//! timestamps (`created_at`, `updated_at`, `published_at`) are set by the database.
//!
//! # Example
//!
//! ```rust,no_run
//! use page_builder::factories::{
//!     BlockFactory, PageFactory, PageStatus, SiteFactory, UserFactory,
//! };
//!
//! # async fn example(conn: &mut sqlx::PgConnection) -> sqlx::Result<()> {
//! // Fake data everywhere, except where a test cares.
//! let ada = UserFactory::new().email("ada@example.com").insert(conn).await?;
//! let site = SiteFactory::new().owner(&ada).insert(conn).await?;
//!
//! // A published page with a current version of three blocks.
//! let page = PageFactory::new()
//!     .site(&site)
//!     .slug("about")
//!     .published()
//!     .blocks(3)
//!     .insert(conn)
//!     .await?;
//! assert_eq!(page.status, PageStatus::Published.as_str());
//! assert!(page.current_version_id.is_some());
//!
//! // Parents are created when not given: this inserts a user, a site, a page and a version.
//! let block = BlockFactory::new().kind("heading").insert(conn).await?;
//! assert_eq!(block.position, 0);
//!
//! // No database needed to build values.
//! let new_user = UserFactory::new().build();
//! assert!(new_user.email.ends_with("@example.com")
//!     || new_user.email.ends_with("@example.net")
//!     || new_user.email.ends_with("@example.org"));
//! # Ok(())
//! # }
//! ```

/// The builder methods of a factory that set one override each, so that each is one line:
/// `name: Type;` stores `Some(value)` in the field `name`, `name: into Type;` converts the
/// value first, and `name(&Row) => name_id;` takes the id of a parent row.
macro_rules! overrides {
    () => {};
    ($(#[$doc:meta])* $name:ident: into $ty:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(mut self, $name: impl Into<$ty>) -> Self {
            self.$name = Some($name.into());
            self
        }
        overrides!($($rest)*);
    };
    ($(#[$doc:meta])* $name:ident: $ty:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = Some($name);
            self
        }
        overrides!($($rest)*);
    };
    ($(#[$doc:meta])* $name:ident(&$row:ty) => $id_setter:ident; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(self, $name: &$row) -> Self {
            self.$id_setter($name.id)
        }
        overrides!($($rest)*);
    };
}

mod blocks;
mod page_versions;
mod pages;
mod sites;
mod slug;
mod users;

pub use blocks::{BlockFactory, NewBlock};
pub use page_versions::{NewPageVersion, PageVersionFactory};
pub use pages::{NewPage, PageFactory, PageStatus, ParsePageStatusError};
pub use sites::{NewSite, SiteFactory};
pub use users::{NewUser, UserFactory};

/// The rows the factories return: the generated models.
pub use crate::models::{Block, Page, PageVersion, Site, User};

use persistence::testing::with_rng;
use sqlx::PgConnection;

pub(crate) use persistence::testing::unique_token;
pub(crate) use slug::slugify;

/// A value of `faker`, drawn from the test's seeded generator (see
/// [`persistence::testing::with_rng`]).
pub(crate) fn draw<T: fake::Dummy<F>, F>(faker: F) -> T {
    with_rng(|rng| T::dummy_with_rng(&faker, rng))
}

/// `text` as a slug (at most 40 bytes of it, `fallback` when it has no ASCII letters or
/// digits) followed by a unique token: `Acme Corp` → `acme-corp-k3x9f20`. Always matches
/// the schema's slug format and stays well under 63 bytes.
pub(crate) fn slug_with_token(text: &str, fallback: &str) -> String {
    let mut base = slugify(text, '-');
    if base.len() > 40 {
        base.truncate(40);
        base = base.trim_end_matches('-').to_owned();
    }
    if base.is_empty() {
        base = slugify(fallback, '-');
    }
    if base.is_empty() {
        return unique_token();
    }
    format!("{base}-{}", unique_token())
}

/// The parent row's `id` when the factory was given one, else the id of the parent that
/// `insert` makes.
async fn parent_id(
    id: Option<i64>,
    insert: impl AsyncFnOnce() -> sqlx::Result<i64>,
) -> sqlx::Result<i64> {
    match id {
        Some(id) => Ok(id),
        None => insert().await,
    }
}

/// Inserts `count` rows, one after the other, each with `insert`.
async fn insert_rows<R>(
    count: usize,
    conn: &mut PgConnection,
    mut insert: impl AsyncFnMut(&mut PgConnection) -> sqlx::Result<R>,
) -> sqlx::Result<Vec<R>> {
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        rows.push(insert(&mut *conn).await?);
    }
    Ok(rows)
}

/// `true` when `slug` matches the slug format the schema enforces: `^[a-z0-9]+(-[a-z0-9]+)*$`.
#[cfg(test)]
pub(crate) fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.split('-').all(|part| {
            !part.is_empty() && part.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slugify_keeps_ascii_alphanumerics() {
        assert_eq!(slugify("  Hello, World!  ", '-'), "hello-world");
        assert_eq!(slugify("O'Conner Émile", '.'), "o.conner.mile");
        assert_eq!(slugify("---", '-'), "");
    }

    #[test]
    fn slugs_with_tokens_are_valid_and_unique() {
        let texts = [
            "Hello World".to_owned(),
            "x".repeat(200),
            format!("{}-tail", "ab ".repeat(30)),
            "  --  ".to_owned(),
            "Café & Co.".to_owned(),
            "李小龍".to_owned(),
        ];
        let mut seen = HashSet::new();
        for text in &texts {
            for fallback in ["page", ""] {
                let slug = slug_with_token(text, fallback);
                assert!(is_valid_slug(&slug), "{text:?} -> {slug}");
                assert!(slug.len() <= 63, "{slug}");
                assert!(seen.insert(slug));
            }
        }
        assert!(slug_with_token("Hello World", "page").starts_with("hello-world-"));
        assert!(slug_with_token("李小龍", "page").starts_with("page-"));
    }

    #[test]
    fn slug_validation() {
        assert!(is_valid_slug("a-b-1"));
        assert!(!is_valid_slug(""));
        assert!(!is_valid_slug("-a"));
        assert!(!is_valid_slug("a--b"));
        assert!(!is_valid_slug("A"));
        assert!(!is_valid_slug("a_b"));
    }
}
