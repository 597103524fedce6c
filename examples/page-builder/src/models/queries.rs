//! Basic reads and writes of the models, as compile-time checked queries.

use sqlx::PgExecutor;

use super::{HealthCheck, User};
use persistence::postgres::{Error, HealthStatus};

impl HealthCheck {
    /// Writes a probe row with this verdict and note, and returns it as stored.
    pub async fn record<'e>(
        executor: impl PgExecutor<'e>,
        status: HealthStatus,
        note: Option<&str>,
    ) -> Result<Self, Error> {
        let status = match status {
            HealthStatus::Pass => "pass",
            HealthStatus::Warn => "warn",
            HealthStatus::Fail => "fail",
        };
        let row = sqlx::query_as!(
            HealthCheck,
            "INSERT INTO health_check (status, note) VALUES ($1, $2) \
             RETURNING id, status, note, checked_at",
            status,
            note
        )
        .fetch_one(executor)
        .await?;
        Ok(row)
    }

    /// The newest probe row, if any.
    pub async fn latest<'e>(executor: impl PgExecutor<'e>) -> Result<Option<Self>, Error> {
        let row = sqlx::query_as!(
            HealthCheck,
            "SELECT id, status, note, checked_at FROM health_check \
             ORDER BY checked_at DESC, id DESC LIMIT 1"
        )
        .fetch_optional(executor)
        .await?;
        Ok(row)
    }
}

impl User {
    /// The account with this e-mail address, compared without regard to case (as the
    /// unique index `users_email_lower_key` does).
    pub async fn by_email<'e>(
        executor: impl PgExecutor<'e>,
        email: &str,
    ) -> Result<Option<Self>, Error> {
        let row = sqlx::query_as!(
            User,
            "SELECT id, email, display_name, created_at, updated_at FROM users \
             WHERE lower(email) = lower($1)",
            email
        )
        .fetch_optional(executor)
        .await?;
        Ok(row)
    }
}
