//! Rows of `users`.

use fake::faker::name::en::{FirstName, LastName};
use sqlx::PgConnection;

use super::insert_rows;
use super::{User, draw, slugify, unique_token};

/// A user that is not stored yet, as made by [`UserFactory::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// E-mail address; unique regardless of case.
    pub email: String,
    /// Name shown in the editor.
    pub display_name: String,
}

impl NewUser {
    /// Inserts this user and returns the stored row.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<User> {
        sqlx::query_as::<_, User>(
            "INSERT INTO users (email, display_name) VALUES ($1, $2) \
             RETURNING *",
        )
        .bind(self.email)
        .bind(self.display_name)
        .fetch_one(conn)
        .await
    }
}

/// Makes [`NewUser`]s and [`User`] rows with fake data.
///
/// Without overrides a user gets a fake name and an address on a reserved `example.*`
/// domain derived from it, with a unique token (`ada.lovelace.k3x9f20@example.org`), so two
/// users never collide on the unique e-mail index.
///
/// ```
/// use page_builder::factories::UserFactory;
///
/// let user = UserFactory::new().display_name("Ada Lovelace").build();
/// assert!(user.email.starts_with("ada.lovelace."));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct UserFactory {
    email: Option<String>,
    display_name: Option<String>,
}

impl UserFactory {
    /// A factory that fakes every field.
    pub fn new() -> Self {
        Self::default()
    }

    overrides! {
        /// Uses this e-mail address as is (it is not made unique).
        email: into String;

        /// Uses this display name; a faked e-mail address is then derived from it.
        display_name: into String;
    }

    /// A new user with the overrides and fake data for the rest; no database needed.
    pub fn build(&self) -> NewUser {
        let display_name = self.display_name.clone().unwrap_or_else(|| {
            let first: String = draw(FirstName());
            let last: String = draw(LastName());
            format!("{first} {last}")
        });
        let email = self
            .email
            .clone()
            .unwrap_or_else(|| fake_email(&display_name));
        NewUser {
            email,
            display_name,
        }
    }

    /// Builds a user and inserts it.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<User> {
        self.build().insert(conn).await
    }

    /// Builds and inserts `count` users, in order.
    ///
    /// With an [`email`](Self::email) override, a second user fails on the unique index.
    pub async fn insert_many(
        &self,
        count: usize,
        conn: &mut PgConnection,
    ) -> sqlx::Result<Vec<User>> {
        insert_rows(count, conn, async |conn| self.build().insert(conn).await).await
    }
}

/// `first.last.<token>@example.<tld>`: a reserved domain, and unique.
fn fake_email(display_name: &str) -> String {
    let mut local = slugify(display_name, '.');
    if local.is_empty() {
        local.push_str("user");
    }
    local.truncate(40);
    let local = local.trim_end_matches('.');
    let tld = ["com", "net", "org"][draw::<usize, _>(0..3usize)];
    format!("{local}.{}@example.{tld}", unique_token())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn emails_are_unique_across_builds() {
        let factory = UserFactory::new();
        let emails: HashSet<String> = (0..1000)
            .map(|_| factory.build().email.to_lowercase())
            .collect();
        assert_eq!(emails.len(), 1000);
    }

    #[test]
    fn emails_are_safe_and_well_formed() {
        for _ in 0..200 {
            let user = UserFactory::new().build();
            let (local, domain) = user
                .email
                .split_once('@')
                .unwrap_or_else(|| panic!("no @ in {}", user.email));
            assert!(
                ["example.com", "example.net", "example.org"].contains(&domain),
                "{}",
                user.email
            );
            assert!(!local.is_empty() && !local.starts_with('.') && !local.contains(".."));
            assert!(
                local
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.'),
                "{}",
                user.email
            );
            assert!(!user.display_name.trim().is_empty());
        }
    }

    #[test]
    fn overrides_are_respected() {
        let user = UserFactory::new()
            .email("Ada@Example.com")
            .display_name("Ada Lovelace")
            .build();
        assert_eq!(user.email, "Ada@Example.com");
        assert_eq!(user.display_name, "Ada Lovelace");
    }

    #[test]
    fn email_follows_an_overridden_name() {
        let user = UserFactory::new().display_name("Grace B. Hopper").build();
        assert!(user.email.starts_with("grace.b.hopper."), "{}", user.email);
    }

    #[test]
    fn a_name_without_ascii_letters_still_gets_an_email() {
        let user = UserFactory::new().display_name("李小龍").build();
        assert!(user.email.starts_with("user."), "{}", user.email);
    }
}
