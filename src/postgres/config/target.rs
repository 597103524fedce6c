//! Where to connect: sqlx's connect options, which of their parts the URL or the code named,
//! and how the target is shown without its password.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sqlx::postgres::PgConnectOptions;

use super::error::{ConfigError, Origin};
use crate::postgres::redact::{MASK, redact_passwords};

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

    /// A host name, or a socket directory when it is an absolute path (libpq's convention).
    pub(crate) fn parse(value: &str) -> Self {
        if value.starts_with('/') {
            Self::Socket(PathBuf::from(value))
        } else {
            Self::Tcp(value.to_owned())
        }
    }

    /// Where `options` connect to; IPv6 addresses without the brackets a URL puts around them.
    fn of(options: &PgConnectOptions) -> Self {
        match options.get_socket() {
            Some(dir) => Self::Socket(dir.clone()),
            None => Self::parse(
                options
                    .get_host()
                    .trim_start_matches('[')
                    .trim_end_matches(']'),
            ),
        }
    }
}

/// Which parts of the target the URL or the code named. sqlx fills in the others from the
/// `PG*` variables and its defaults, which the configuration neither requires nor shows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Named {
    pub(crate) host: bool,
    pub(crate) port: bool,
    pub(crate) user: bool,
    pub(crate) password: bool,
    pub(crate) database: bool,
}

/// The connection target: the options sqlx parsed from the URL (or its defaults), changed by
/// the parts set in code.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) options: PgConnectOptions,
    pub(crate) named: Named,
    /// Kept in step with `options`, so that [`PgConfig::host`](super::PgConfig::host) can lend it.
    host: Host,
    /// The libpq parameters handed to sqlx (`sslcert`, `options`, ...), for the redacted URL.
    pub(crate) passthrough: Vec<(String, String)>,
}

/// What the redacted URL escapes in user names, database names and parameter values: all but
/// the characters URLs never need to escape.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Target {
    /// The target sqlx read from a URL, with the parts the URL named.
    pub(crate) fn new(
        options: PgConnectOptions,
        named: Named,
        passthrough: Vec<(String, String)>,
    ) -> Self {
        Self {
            host: Host::of(&options),
            options,
            named,
            passthrough,
        }
    }

    /// A target named by code alone: sqlx's defaults, `PGPASSWORD` and `~/.pgpass` included.
    pub(crate) fn unnamed() -> Self {
        Self::new(PgConnectOptions::new(), Named::default(), Vec::new())
    }

    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    pub(crate) fn port(&self) -> Option<u16> {
        self.named.port.then(|| self.options.get_port())
    }

    pub(crate) fn username(&self) -> Option<&str> {
        self.named.user.then(|| self.options.get_username())
    }

    pub(crate) fn database(&self) -> &str {
        self.options.get_database().unwrap_or_default()
    }

    /// Connects to `host` instead. sqlx has no way to forget a unix socket it was given, so
    /// a TCP host cannot replace the URL's socket.
    pub(crate) fn set_host(&mut self, host: Host) -> Result<(), ConfigError> {
        self.options = match (&host, self.options.get_socket()) {
            (Host::Socket(dir), _) => self.options.clone().socket(dir),
            (Host::Tcp(name), None) => self.options.clone().host(name),
            (Host::Tcp(name), Some(socket)) => {
                return Err(ConfigError::Conflict {
                    first: format!("host={} in the database URL", socket.display()),
                    second: format!("host={} {}", redact_passwords(name), Origin::Code),
                    hint: "a unix socket of the URL cannot be replaced by a TCP host; remove \
                           the socket from the URL, or set a socket in code",
                });
            }
        };
        self.host = host;
        self.named.host = true;
        Ok(())
    }

    pub(crate) fn set_port(&mut self, port: u16) {
        self.options = self.options.clone().port(port);
        self.named.port = true;
    }

    pub(crate) fn set_username(&mut self, username: &str) {
        self.options = self.options.clone().username(username);
        self.named.user = true;
    }

    pub(crate) fn set_password(&mut self, password: &str) {
        self.options = self.options.clone().password(password);
        self.named.password = true;
    }

    pub(crate) fn set_database(&mut self, database: &str) {
        self.options = self.options.clone().database(database);
        self.named.database = true;
    }

    /// `host:port` or the socket directory, for messages.
    pub(crate) fn endpoint(&self) -> String {
        let port = self.port().map(|p| format!(":{p}")).unwrap_or_default();
        match &self.host {
            Host::Tcp(host) if host.contains(':') => format!("[{host}]{port}"),
            Host::Tcp(host) => format!("{host}{port}"),
            Host::Socket(dir) => format!("{}{port}", dir.display()),
        }
    }

    /// The target as a URL with the password replaced by `***` (sqlx's own rendering shows it).
    pub(crate) fn redacted_url(&self) -> String {
        let escape = |text: &str| utf8_percent_encode(text, COMPONENT).to_string();
        let user = self.username().map(escape).unwrap_or_default();
        let userinfo = match (user.as_str(), self.named.password) {
            ("", false) => String::new(),
            (user, false) => format!("{user}@"),
            (user, true) => format!("{user}:{MASK}@"),
        };
        let (host, socket) = match &self.host {
            Host::Tcp(host) if host.contains(':') => (format!("[{host}]"), None),
            Host::Tcp(host) => (host.clone(), None),
            // As libpq writes it: the socket directory as the `host` parameter.
            Host::Socket(dir) => ("localhost".to_owned(), Some(dir.to_string_lossy())),
        };
        let port = self.port().map(|p| format!(":{p}")).unwrap_or_default();
        let query: Vec<String> = socket
            .map(|dir| ("host", dir))
            .into_iter()
            .chain(
                self.passthrough
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_str().into())),
            )
            .map(|(key, value)| format!("{key}={}", escape(&value)))
            .collect();
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let database = escape(self.database());
        format!("postgres://{userinfo}{host}{port}/{database}{query}")
    }
}

// sqlx's `Debug` of the options shows the password.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

/// Parses a port, rejecting 0 (which means "any port" to the OS, never a server's port) and,
/// as sqlx does, spaces around it.
pub(crate) fn checked_port(raw: &str, origin: &Origin) -> Result<u16, ConfigError> {
    raw.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| ConfigError::InvalidPort {
            value: redact_passwords(raw).into_owned(),
            origin: origin.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
