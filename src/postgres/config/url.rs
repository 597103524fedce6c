//! Reading a connection URL: where to connect, the tuning parameters (stripped, so sqlx never
//! sees them) and the libpq parameters handed on to sqlx.

use std::path::PathBuf;

use url::Url;

use super::error::{ConfigError, Origin};
use super::params::{Layer, Param, is_passthrough, suggest, unsupported_hint};
use crate::postgres::redact::{Secret, redact_passwords};

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name or IP address, reached over TCP.
    Tcp(String),
    /// The directory holding the server's unix socket (`/var/run/postgresql`).
    Socket(PathBuf),
}

impl Host {
    /// True for a unix socket or a loopback host name or address: the server is on this machine.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Socket(_) => true,
            Self::Tcp(host) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

/// The connection target as far as one source (URL or builder) describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TargetParts {
    pub(crate) host: Option<Host>,
    pub(crate) port: Option<u16>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) database: Option<String>,
    /// libpq parameters sqlx understands and we do not tune (`sslcert`, `options`, ...).
    pub(crate) passthrough: Vec<(String, String)>,
}

/// What a URL says: the target and the parameter layer.
#[derive(Debug)]
pub(crate) struct ParsedUrl {
    pub(crate) target: TargetParts,
    pub(crate) layer: Layer,
}

/// Parses and validates a `postgres://` URL.
pub(crate) fn parse_url(raw: &str) -> Result<ParsedUrl, ConfigError> {
    let raw = raw.trim();
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: redact_passwords(raw).into_owned(),
        reason: reason.to_owned(),
    };
    let Some(scheme_end) = raw.find("://") else {
        return Err(invalid("it does not start with postgres://"));
    };
    let scheme = raw[..scheme_end].to_ascii_lowercase();
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(ConfigError::UnsupportedScheme {
            scheme: redact_passwords(&raw[..scheme_end]).into_owned(),
        });
    }
    let url = Url::parse(raw).map_err(|error| match error {
        url::ParseError::InvalidPort => ConfigError::InvalidPort {
            value: port_text(raw).to_owned(),
            origin: Origin::Url,
        },
        other => invalid(&other.to_string()),
    })?;

    let mut target = TargetParts::default();
    let mut layer = Layer::default();

    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        let host = percent_decode(host).map_err(|()| invalid("the host is not valid UTF-8"))?;
        target.host = Some(host_or_socket(
            host.trim_start_matches('[').trim_end_matches(']'),
        ));
    }
    if let Some(port) = url.port() {
        target.port = Some(checked_port(&port.to_string(), &Origin::Url)?);
    }
    if !url.username().is_empty() {
        let user =
            percent_decode(url.username()).map_err(|()| invalid("the user is not valid UTF-8"))?;
        target.username = Some(user);
    }
    if let Some(password) = url.password() {
        // Never put the decoding error's input in the message: it is the password.
        let password =
            percent_decode(password).map_err(|()| invalid("the password is not valid UTF-8"))?;
        target.password = Some(Secret::new(password));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        if path.contains('/') {
            return Err(ConfigError::InvalidDatabase {
                name: redact_passwords(path).into_owned(),
                origin: Origin::Url,
                reason: "the URL path must be just the database name; percent-encode a '/' in the name as %2F",
            });
        }
        let database =
            percent_decode(path).map_err(|()| invalid("the database name is not valid UTF-8"))?;
        target.database = Some(database);
    }

    for (key, value) in url.query_pairs() {
        let key = key.as_ref();
        if let Some(param) = Param::from_url_key(key) {
            layer.set(param, &value, &Origin::Url)?;
            continue;
        }
        match key {
            "host" => target.host = Some(host_or_socket(&value)),
            "hostaddr" => target.host = Some(Host::Tcp(value.into_owned())),
            "port" => target.port = Some(checked_port(&value, &Origin::Url)?),
            "user" => target.username = Some(value.into_owned()),
            "password" => target.password = Some(Secret::new(value.into_owned())),
            "dbname" => target.database = Some(value.into_owned()),
            _ if is_passthrough(key) => target
                .passthrough
                .push((key.to_owned(), value.into_owned())),
            _ => {
                if let Some(hint) = unsupported_hint(key) {
                    return Err(ConfigError::Unsupported {
                        param: key.to_owned(),
                        origin: Origin::Url,
                        hint,
                    });
                }
                return Err(ConfigError::UnknownParameter {
                    name: redact_passwords(key).into_owned(),
                    suggestion: suggest(key),
                });
            }
        }
    }
    Ok(ParsedUrl { target, layer })
}

/// A host name, or a socket directory when it is an absolute path (libpq's convention).
pub(crate) fn host_or_socket(value: &str) -> Host {
    if value.starts_with('/') {
        Host::Socket(PathBuf::from(value))
    } else {
        Host::Tcp(value.to_owned())
    }
}

/// Parses a port, rejecting 0 (which means "any port" to the OS, never a server's port).
pub(crate) fn checked_port(raw: &str, origin: &Origin) -> Result<u16, ConfigError> {
    raw.trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| ConfigError::InvalidPort {
            value: redact_passwords(raw).into_owned(),
            origin: origin.clone(),
        })
}

/// The text where the port should be, for the error message of a URL with a bad port.
/// Looks only after the last '@', so the password is never part of it.
fn port_text(raw: &str) -> &str {
    let after_scheme = raw.find("://").map_or(raw, |i| &raw[i + 3..]);
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    let host_port = authority
        .rfind('@')
        .map_or(authority, |i| &authority[i + 1..]);
    let after_host = host_port
        .rfind(']')
        .map_or(host_port, |i| &host_port[i + 1..]);
    after_host.rfind(':').map_or("", |i| &after_host[i + 1..])
}

/// Decodes `%XX` escapes; fails when the result is not UTF-8 (or an escape is malformed).
pub(crate) fn percent_decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(raw: &str) -> ParsedUrl {
        parse_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn reads_the_parts_of_a_url() {
        let parsed = parse("postgres://app:s%40cret@db.internal:6543/app_db");
        let t = parsed.target;
        assert_eq!(t.host, Some(Host::Tcp("db.internal".into())));
        assert_eq!(t.port, Some(6543));
        assert_eq!(t.username.as_deref(), Some("app"));
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!(t.database.as_deref(), Some("app_db"));
        assert!(t.passthrough.is_empty());
        assert_eq!(parsed.layer, Layer::default());
    }

    #[test]
    fn accepts_both_schemes_in_any_case() {
        for raw in ["postgresql://h/db", "POSTGRES://h/db"] {
            assert_eq!(parse(raw).target.database.as_deref(), Some("db"));
        }
    }

    #[test]
    fn sockets_from_host_or_query() {
        let t = parse("postgres://%2Fvar%2Frun%2Fpostgresql/db").target;
        assert_eq!(t.host, Some(Host::Socket("/var/run/postgresql".into())));
        let t = parse("postgres:///db?host=/tmp/pg&port=5433").target;
        assert_eq!(t.host, Some(Host::Socket("/tmp/pg".into())));
        assert_eq!(t.port, Some(5433));
        let t = parse("postgres:///db?host=other").target;
        assert_eq!(t.host, Some(Host::Tcp("other".into())));
        let t = parse("postgres:///db?hostaddr=10.0.0.1").target;
        assert_eq!(t.host, Some(Host::Tcp("10.0.0.1".into())));
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let t = parse("postgres://[::1]:5432/db").target;
        assert_eq!(t.host, Some(Host::Tcp("::1".into())));
    }

    #[test]
    fn libpq_parameters_in_the_query() {
        let t = parse("postgres://h/x?user=u&password=p%26w&dbname=real&sslcert=/c.pem&sslkey=/k.pem&options=-c%20geqo%3Doff").target;
        assert_eq!(t.username.as_deref(), Some("u"));
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("p&w"));
        assert_eq!(t.database.as_deref(), Some("real"));
        assert_eq!(
            t.passthrough,
            vec![
                ("sslcert".to_owned(), "/c.pem".to_owned()),
                ("sslkey".to_owned(), "/k.pem".to_owned()),
                ("options".to_owned(), "-c geqo=off".to_owned()),
            ]
        );
    }

    #[test]
    fn tuning_parameters_go_to_the_layer() {
        let parsed =
            parse("postgres://h/db?connection_limit=4&pool_timeout=0&sslmode=verify-full&schema=s");
        assert_eq!(parsed.layer.connection_limit, Some(4));
        assert_eq!(parsed.layer.pool_timeout, Some(None));
        assert_eq!(parsed.layer.schema.as_deref(), Some("s"));
        let parsed = parse("postgres://h/db?socket_timeout=3");
        assert_eq!(
            parsed.layer.statement_timeout,
            Some(Some(Duration::from_secs(3)))
        );
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
    fn port_text_never_looks_at_the_password() {
        assert_eq!(port_text("postgres://u:p:w@h:12x/db"), "12x");
        assert_eq!(port_text("postgres://[::1]:x/db"), "x");
        assert_eq!(port_text("postgres://h/db"), "");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), Ok("a b/c".into()));
        assert_eq!(percent_decode("%zz"), Err(()));
        assert_eq!(percent_decode("%2"), Err(()));
        assert_eq!(percent_decode("%C3%A9"), Ok("é".into()));
    }

    #[test]
    fn local_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(Host::Tcp(host.into()).is_local(), "{host}");
        }
        assert!(Host::Socket("/tmp".into()).is_local());
        for host in ["db.example.com", "10.0.0.5", "::2"] {
            assert!(!Host::Tcp(host.into()).is_local(), "{host}");
        }
    }
}
