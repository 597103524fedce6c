//! Keeping passwords out of everything a human or a log collector may read.
//!
//! The connection URL is the one place a password lives. [`PgConfig`](super::PgConfig) never
//! stores it as a URL (it keeps the password in a [`Secret`]), and every message that may carry
//! text from elsewhere (sqlx errors, URLs given by the user) goes through [`redact_passwords`]
//! first: one name, inside the crate and out.

use std::borrow::Cow;
use std::fmt;

/// What a redacted password is replaced with.
pub(crate) const MASK: &str = "***";

/// A string that must never be printed: `Debug` shows `***` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it: the connection.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Masks the password of every URL in `text` (`scheme://user:secret@host` becomes
/// `scheme://user:***@host`) and the value of every `password=` parameter.
///
/// Works on arbitrary text, not just on valid URLs: it is applied to error messages and to
/// URLs that failed to parse, so it must not rely on a URL parser.
///
/// # Example
/// ```
/// use persistence::postgres::redact_passwords;
///
/// assert_eq!(
///     redact_passwords("cannot use postgres://app:secret@db/app?password=x"),
///     "cannot use postgres://app:***@db/app?password=***"
/// );
/// ```
pub fn redact_passwords(text: &str) -> Cow<'_, str> {
    let with_userinfo_masked = mask_userinfo(text);
    match mask_password_params(&with_userinfo_masked) {
        Cow::Borrowed(_) => with_userinfo_masked,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Characters that end the authority part of a URL inside free text.
fn ends_authority(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace()
}

fn mask_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_len = tail.find(ends_authority).unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        // The userinfo ends at the last '@': a password may itself contain an unencoded '@'.
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn mask_password_params(text: &str) -> Cow<'_, str> {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    if !lower.contains(KEY) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    while let Some(found) = lower[position..].find(KEY) {
        let value_start = position + found + KEY.len();
        out.push_str(&text[position..value_start]);
        let value_len = text[value_start..]
            .find(|c: char| c == '&' || c == '#' || ends_authority(c) && c != '/')
            .unwrap_or(text.len() - value_start);
        if value_len > 0 {
            out.push_str(MASK);
        }
        position = value_start + value_len;
    }
    out.push_str(&text[position..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_masked() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn masks_the_password_of_a_url() {
        assert_eq!(
            redact_passwords("postgres://app:hunter2@db.internal:5432/app"),
            "postgres://app:***@db.internal:5432/app"
        );
    }

    #[test]
    fn masks_passwords_containing_at_signs_and_urls_inside_text() {
        assert_eq!(
            redact_passwords("cannot parse 'postgresql://u:p@ss@h/db?x=1' (line 3)"),
            "cannot parse 'postgresql://u:***@h/db?x=1' (line 3)"
        );
        assert_eq!(
            redact_passwords("a postgres://a:b@h and b postgres://c:d@i end"),
            "a postgres://a:***@h and b postgres://c:***@i end"
        );
    }

    #[test]
    fn leaves_urls_without_password_alone() {
        assert_eq!(
            redact_passwords("postgres://app@h/db"),
            "postgres://app@h/db"
        );
        assert_eq!(redact_passwords("postgres://h/db"), "postgres://h/db");
        assert!(matches!(redact_passwords("no url here"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_password_parameters() {
        assert_eq!(
            redact_passwords("postgres://h/db?user=a&password=hunter2&sslmode=require"),
            "postgres://h/db?user=a&password=***&sslmode=require"
        );
        assert_eq!(redact_passwords("PASSWORD=x y"), "PASSWORD=*** y");
        assert_eq!(redact_passwords("password= empty"), "password= empty");
    }
}
