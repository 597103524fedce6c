//! Who may use the page. The command prints a URL with a random token; the first request
//! that carries it gets the token as a cookie (HttpOnly, SameSite=Strict) and is redirected
//! to the same page without it, so the token leaves the address bar. Every later request
//! needs the cookie: none at all is 401, a wrong one 403.
//!
//! Writes need more: every form carries an anti-forgery value made for its page, a random
//! nonce and its SHA-256 under a secret of this run, which another site can neither read nor
//! make (a cookie alone would be sent along with a forged cross-site form).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::views;

/// The query parameter that carries the token.
pub(crate) const TOKEN_PARAM: &str = "token";

/// The run's secrets.
pub(crate) struct Auth {
    token: String,
    csrf_secret: [u8; 32],
    /// Cookies do not tell ports apart: a studio on another port must not use ours.
    cookie_name: String,
}

impl Auth {
    /// New random secrets for a studio listening on `port`.
    pub(crate) fn new(port: u16) -> Self {
        let mut rng = rand::rng();
        Self {
            token: hex(&rng.random::<[u8; 32]>()),
            csrf_secret: rng.random(),
            cookie_name: format!("persistence_studio_{port}"),
        }
    }

    /// The token for the printed URL.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// A fresh anti-forgery value for one page's forms.
    pub(crate) fn csrf_value(&self) -> String {
        let nonce = hex(&rand::rng().random::<[u8; 16]>());
        let mac = self.csrf_mac(&nonce);
        format!("{nonce}.{mac}")
    }

    /// Whether `value` was made by [`Auth::csrf_value`] of this run.
    pub(crate) fn csrf_valid(&self, value: &str) -> bool {
        value
            .split_once('.')
            .is_some_and(|(nonce, mac)| same(mac, &self.csrf_mac(nonce)))
    }

    fn csrf_mac(&self, nonce: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.csrf_secret);
        hasher.update(nonce.as_bytes());
        hex(&hasher.finalize())
    }

    /// What the request carries, compared with the token.
    fn check(&self, query: Option<&str>, headers: &HeaderMap) -> Access {
        let from_url = query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(name, _)| name == TOKEN_PARAM)
                .map(|(_, value)| value.into_owned())
        });
        if let Some(token) = from_url {
            return if same(&token, &self.token) {
                Access::FromUrl
            } else {
                Access::Wrong
            };
        }
        let from_cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie_name)
            .map(|(_, value)| value.to_owned());
        match from_cookie {
            Some(token) if same(&token, &self.token) => Access::Granted,
            Some(_) => Access::Wrong,
            None => Access::Missing,
        }
    }
}

/// The outcome of [`Auth::check`].
enum Access {
    Granted,
    FromUrl,
    Missing,
    Wrong,
}

/// The middleware in front of every route; its state is the run's [`Auth`] alone, so this
/// file knows nothing of the routes it guards.
pub(crate) async fn require_token(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().map(str::to_owned);
    match auth.check(query.as_deref(), request.headers()) {
        Access::Granted => next.run(request).await,
        Access::FromUrl => {
            let rest: Vec<(String, String)> =
                url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
                    .filter(|(name, _)| name != TOKEN_PARAM)
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect();
            let mut location = request.uri().path().to_owned();
            if !rest.is_empty() {
                location.push('?');
                location.push_str(
                    &url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(rest)
                        .finish(),
                );
            }
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict",
                auth.cookie_name, auth.token
            );
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Access::Missing => (
            StatusCode::UNAUTHORIZED,
            views::message_page(
                "Token needed",
                "Open the URL that `persistence studio` printed: it carries the access token.",
            ),
        )
            .into_response(),
        Access::Wrong => (
            StatusCode::FORBIDDEN,
            views::message_page(
                "Wrong token",
                "This token is not the one of the running `persistence studio`: open the URL \
                 it printed.",
            ),
        )
            .into_response(),
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anti_forgery_values_are_made_here_only() {
        let auth = Auth::new(1);
        let value = auth.csrf_value();
        assert!(auth.csrf_valid(&value));
        assert_ne!(value, auth.csrf_value(), "one per page");
        assert!(!auth.csrf_valid(""));
        assert!(!auth.csrf_valid("00.00"));
        assert!(!Auth::new(1).csrf_valid(&value), "another run's value");
    }

    #[test]
    fn token_from_the_url_or_the_cookie() {
        let auth = Auth::new(7);
        let mut headers = HeaderMap::new();
        assert!(matches!(auth.check(None, &headers), Access::Missing));
        let query = format!("token={}", auth.token());
        assert!(matches!(
            auth.check(Some(&query), &headers),
            Access::FromUrl
        ));
        assert!(matches!(
            auth.check(Some("token=x"), &headers),
            Access::Wrong
        ));
        let cookie = format!("a=b; persistence_studio_7={}", auth.token());
        headers.insert(header::COOKIE, cookie.parse().expect("header"));
        assert!(matches!(auth.check(None, &headers), Access::Granted));
        headers.insert(
            header::COOKIE,
            "persistence_studio_7=nope".parse().expect("header"),
        );
        assert!(matches!(auth.check(None, &headers), Access::Wrong));
    }
}
