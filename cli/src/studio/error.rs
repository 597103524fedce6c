//! What a request can run into, as the page shows it. No message contains a password: the
//! server's own messages never do, and every other text goes through the redaction of
//! [`crate::error::one_line`].

use axum::http::StatusCode;

/// Why a request was not served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StudioError {
    /// The server refused a statement (constraint violation, bad input for a type, ...).
    #[error("the database refused: {0}")]
    Refused(String),
    /// Reaching the database failed.
    #[error("the database could not be reached: {0}")]
    Unreachable(String),
    /// The optimistic check found the row different from the page it was edited on.
    #[error(
        "the row changed since it was shown (or was deleted): nothing was written; reload it \
         and make the change again"
    )]
    Changed,
    /// A table, column or row named in the request does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A request the page would never send.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A write in read-only mode.
    #[error("no writes: {0}")]
    ReadOnly(&'static str),
    /// A write without the page's anti-forgery value.
    #[error(
        "the form lacks this page's anti-forgery value (or it is wrong): reload the page and \
         submit it again"
    )]
    Forgery,
}

impl StudioError {
    /// The HTTP status that goes with it.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Changed => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::ReadOnly(_) | Self::Forgery => StatusCode::FORBIDDEN,
        }
    }
}

impl From<sqlx::Error> for StudioError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) => {
                let mut text = db.message().to_owned();
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    && let Some(detail) = pg.detail()
                {
                    text.push_str(&format!(" ({detail})"));
                }
                Self::Refused(crate::error::one_line(&text))
            }
            _ => Self::Unreachable(crate::error::one_line(
                &persistence::postgres::Error::from(error).to_string(),
            )),
        }
    }
}
