//! Reading a `postgres://` URL: the tuning parameters are taken out of its query string, the
//! few things sqlx accepts silently (a missing host or database, port 0, a '/' in the database
//! name, an unknown parameter) are refused, and sqlx parses the rest, once.

use std::str::FromStr;

use percent_encoding::percent_decode_str;
use sqlx::postgres::PgConnectOptions;

use super::error::{ConfigError, Origin};
use super::layer::Layer;
use super::params::{Param, is_passthrough, suggest, unsupported_hint};
use super::target::{Named, Target, checked_port};
use crate::postgres::redact::redact_passwords;

/// Parses and validates a `postgres://` URL: the target, and the parameters it sets.
pub(crate) fn parse_url(raw: &str) -> Result<(Target, Layer), ConfigError> {
    let raw = raw.trim();
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: redact_passwords(raw).into_owned(),
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(invalid("it does not start with postgres://"));
    };
    if !["postgres", "postgresql"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(ConfigError::UnsupportedScheme {
            scheme: redact_passwords(scheme).into_owned(),
        });
    }

    // The parts are only looked at here; sqlx reads them. The userinfo ends at the last '@':
    // a password may hold one.
    let rest = rest.split('#').next().unwrap_or_default();
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) =
        before_query.split_at(before_query.find('/').unwrap_or(before_query.len()));
    let (userinfo, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let host_end = host_port.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match host_port[host_end..].rfind(':') {
        Some(colon) => host_port.split_at(host_end + colon),
        None => (host_port, ""),
    };
    let port = port.trim_start_matches(':');
    let database = path.trim_start_matches('/');
    if !port.is_empty() {
        checked_port(port, &Origin::Url)?;
    }
    // Never put the failing text in the message: it may be the password.
    for (part, text) in [("host", host), ("user", user), ("password", password)] {
        if percent_decode_str(text).decode_utf8().is_err() {
            return Err(invalid(&format!("the {part} is not valid UTF-8")));
        }
    }
    if database.contains('/') {
        return Err(ConfigError::InvalidDatabase {
            name: redact_passwords(database).into_owned(),
            origin: Origin::Url,
            reason: "the URL path must be just the database name; percent-encode a '/' in the name as %2F",
        });
    }
    if percent_decode_str(database).decode_utf8().is_err() {
        return Err(invalid("the database name is not valid UTF-8"));
    }
    let mut named = Named {
        host: !host.is_empty(),
        port: !port.is_empty(),
        user: !user.is_empty(),
        password: !password.is_empty(),
        database: !database.is_empty(),
    };

    let mut layer = Layer::default();
    let mut kept = Vec::new();
    let mut passthrough = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        // Decoded as sqlx decodes them (`+` is a space).
        let Some((key, value)) = form_urlencoded::parse(pair.as_bytes()).next() else {
            continue;
        };
        // libpq takes an empty user or password as unset, where sqlx would send it.
        let unset = matches!(key.as_ref(), "user" | "password") && value.is_empty();
        if let Some(param) = Param::from_url_key(&key) {
            layer.set(param, &value, &Origin::Url)?;
            continue;
        }
        match key.as_ref() {
            "host" | "hostaddr" => named.host = true,
            "port" => {
                checked_port(&value, &Origin::Url)?;
                named.port = true;
            }
            "user" => named.user = !unset,
            "password" => named.password = !unset,
            "dbname" => named.database = true,
            key if is_passthrough(key) => passthrough.push((key.to_owned(), value.into_owned())),
            key => {
                return Err(match unsupported_hint(key) {
                    Some(hint) => ConfigError::Unsupported {
                        param: key.to_owned(),
                        origin: Origin::Url,
                        hint,
                    },
                    None => ConfigError::UnknownParameter {
                        name: redact_passwords(key).into_owned(),
                        suggestion: suggest(key),
                    },
                });
            }
        }
        if !unset {
            kept.push(pair);
        }
    }

    let base = &raw[..scheme.len() + "://".len() + before_query.len()];
    let stripped = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let options = PgConnectOptions::from_str(&stripped).map_err(|error| {
        let reason = match error {
            sqlx::Error::Configuration(source) => source.to_string(),
            other => other.to_string(),
        };
        invalid(&redact_passwords(&reason))
    })?;
    Ok((Target::new(options, named, passthrough), layer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::config::Host;
    use std::time::Duration;

    fn parse(raw: &str) -> (Target, Layer) {
        parse_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    /// Whether sqlx got `password`: its options print it (and are never printed by us).
    fn sends_password(target: &Target, password: &str) -> bool {
        format!("{:?}", target.options).contains(&format!("password: Some({password:?})"))
    }

    #[test]
    fn reads_the_parts_of_a_url() {
        let (t, layer) = parse("postgres://app:s%40cret@db.internal:6543/app_db");
        assert_eq!(t.host(), &Host::Tcp("db.internal".into()));
        assert_eq!(t.port(), Some(6543));
        assert_eq!(t.username(), Some("app"));
        assert!(sends_password(&t, "s@cret"));
        assert_eq!(t.database(), "app_db");
        assert!(t.passthrough.is_empty());
        assert_eq!(layer, Layer::default());
    }

    #[test]
    fn accepts_both_schemes_in_any_case() {
        for raw in ["postgresql://h/db", "POSTGRES://h/db"] {
            assert_eq!(parse(raw).0.database(), "db");
        }
    }

    #[test]
    fn sockets_from_host_or_query() {
        let t = parse("postgres://%2Fvar%2Frun%2Fpostgresql/db").0;
        assert_eq!(t.host(), &Host::Socket("/var/run/postgresql".into()));
        let t = parse("postgres:///db?host=/tmp/pg&port=5433").0;
        assert_eq!(t.host(), &Host::Socket("/tmp/pg".into()));
        assert_eq!(t.port(), Some(5433));
        let t = parse("postgres:///db?host=other").0;
        assert_eq!(t.host(), &Host::Tcp("other".into()));
        let t = parse("postgres:///db?hostaddr=10.0.0.1").0;
        assert_eq!(t.host(), &Host::Tcp("10.0.0.1".into()));
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let t = parse("postgres://[::1]:5432/db").0;
        assert_eq!(t.host(), &Host::Tcp("::1".into()));
    }

    #[test]
    fn libpq_parameters_in_the_query() {
        let t = parse("postgres://h/x?user=u&password=p%26w&dbname=real&sslcert=/c.pem&sslkey=/k.pem&options=-c%20geqo%3Doff").0;
        assert_eq!(t.username(), Some("u"));
        assert!(sends_password(&t, "p&w"));
        assert_eq!(t.database(), "real");
        assert_eq!(
            t.passthrough,
            vec![
                ("sslcert".to_owned(), "/c.pem".to_owned()),
                ("sslkey".to_owned(), "/k.pem".to_owned()),
                ("options".to_owned(), "-c geqo=off".to_owned()),
            ]
        );
        assert_eq!(t.options.get_options(), Some("-c geqo=off"));
    }

    #[test]
    fn tuning_parameters_go_to_the_layer() {
        let (t, layer) =
            parse("postgres://h/db?connection_limit=4&pool_timeout=0&sslmode=verify-full&schema=s");
        assert_eq!(layer.connection_limit, Some(4));
        assert_eq!(layer.pool_timeout, Some(None));
        assert_eq!(layer.schema.as_deref(), Some("s"));
        assert_eq!(t.redacted_url(), "postgres://h/db", "sqlx never sees them");
        let (_, layer) = parse("postgres://h/db?socket_timeout=3");
        assert_eq!(layer.statement_timeout, Some(Some(Duration::from_secs(3))));
    }

    #[test]
    fn precise_errors() {
        let cases: [(&str, &str); 12] = [
            (
                "mysql://u:pw@h/db",
                "the database URL has scheme `mysql:`; use postgres:// or postgresql://",
            ),
            ("h/db", "it does not start with postgres://"),
            (
                "postgres://u:pw@h:99999/db",
                "invalid port `99999` in the database URL",
            ),
            ("postgres://u:pw@h:0/db", "invalid port `0`"),
            ("postgres://u:pw@h:abc/db", "invalid port `abc`"),
            ("postgres://h/db?port=x", "invalid port `x`"),
            ("postgres://h/a/b", "invalid database name `a/b`"),
            (
                "postgres://h/db?conection_limit=5",
                "unknown parameter `conection_limit` in the database URL (did you mean `connection_limit`?)",
            ),
            (
                "postgres://h/db?sslaccept=strict",
                "parameter `sslaccept` in the database URL is not supported",
            ),
            (
                "postgres://h/db?connection_limit=-3",
                "invalid connection_limit `-3` in the database URL",
            ),
            (
                "postgres://h/db?sslmode=bogus",
                "invalid sslmode `bogus` in the database URL: expected one of disable",
            ),
            (
                "postgres://u:pw@h/%FF",
                "the database name is not valid UTF-8",
            ),
        ];
        for (raw, expected) in cases {
            let message = parse_url(raw).expect_err(raw).to_string();
            assert!(message.contains(expected), "{raw}: {message}");
            assert!(!message.contains("pw"), "password leaked: {message}");
        }
    }

    #[test]
    fn invalid_urls_are_reported_without_password() {
        let message = parse_url("postgres://u:hunter2@[bad/db")
            .expect_err("bad")
            .to_string();
        assert!(message.contains("is not a valid URL"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let message = parse_url("postgres://u:%FF@h/db")
            .expect_err("bad")
            .to_string();
        assert!(
            message.contains("the password is not valid UTF-8"),
            "{message}"
        );
        let message = parse_url("postgres://%FF@h/db")
            .expect_err("bad")
            .to_string();
        assert!(message.contains("the user is not valid UTF-8"), "{message}");
        let message = parse_url("postgres://%FF/db").expect_err("bad").to_string();
        assert!(message.contains("the host is not valid UTF-8"), "{message}");
    }

    #[test]
    fn the_port_is_looked_for_after_the_password() {
        let message = parse_url("postgres://u:p:w@h:12x/db")
            .expect_err("bad port")
            .to_string();
        assert!(message.contains("invalid port `12x`"), "{message}");
        assert!(!message.contains("p:w"), "{message}");
        let message = parse_url("postgres://[::1]:x/db")
            .expect_err("bad port")
            .to_string();
        assert!(message.contains("invalid port `x`"), "{message}");
        assert_eq!(parse("postgres://h/db").0.port(), None);
        for raw in ["postgres://h: 5/db", "postgres://h/db?port=%205"] {
            let message = parse_url(raw).expect_err(raw).to_string();
            assert!(message.contains("invalid port ` 5`"), "{message}");
        }
    }

    #[test]
    fn an_empty_user_or_password_is_unset_as_in_libpq() {
        let (t, _) = parse("postgres://h/db?user=&password=");
        assert_eq!(t.username(), None);
        assert!(!t.named.password);
        assert_ne!(t.options.get_username(), "", "sqlx's default user");
        assert!(!sends_password(&t, ""));
        assert_eq!(t.redacted_url(), "postgres://h/db");
    }
}
