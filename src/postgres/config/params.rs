//! The tunable parameters: what each is called in URLs and in the environment, what it
//! accepts, and the libpq parameters sqlx reads itself. How a value is parsed is
//! [`super::layer`]'s job.

use std::fmt;
use std::str::FromStr;

/// A tunable parameter; what it is called and what it accepts is its row of [`PARAMS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    ConnectionLimit,
    PoolTimeout,
    ConnectTimeout,
    StatementTimeout,
    /// Prisma's name for a per-statement limit; an alias of `statement_timeout`.
    SocketTimeout,
    MaxIdleConnectionLifetime,
    MaxConnectionLifetime,
    PgBouncer,
    StatementCacheSize,
    SslMode,
    SslRootCert,
    ApplicationName,
    Schema,
    SlowAcquireThreshold,
}

/// One row of [`PARAMS`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParamSpec {
    param: Param,
    /// The canonical name, as written in a URL.
    name: &'static str,
    /// Other spellings accepted in a URL: the ones sqlx uses.
    aliases: &'static [&'static str],
    /// The environment variable that overrides the URL.
    env_var: &'static str,
    /// What the parameter accepts, with an example; the end of "expected ..." in errors.
    expected: &'static str,
}

const DURATION_OR_OFF: &str = "a duration in seconds (or with a unit: 500ms, 10s, 2min, 1h) up to 24 days, 0 to turn it off, e.g. 30 or 1500ms";

/// Every parameter, in the order they are documented: the names, aliases, environment
/// variables, help texts and the list of known URL parameters are all read from here. Adding
/// a parameter is a variant of [`Param`], a row here, and where `Layer::set` stores it.
pub(crate) const PARAMS: [ParamSpec; 14] = [
    ParamSpec {
        param: Param::ConnectionLimit,
        name: "connection_limit",
        aliases: &[],
        env_var: "PERSISTENCE_CONNECTION_LIMIT",
        expected: "a whole number of connections from 1 to 10000, e.g. connection_limit=10",
    },
    ParamSpec {
        param: Param::PoolTimeout,
        name: "pool_timeout",
        aliases: &[],
        env_var: "PERSISTENCE_POOL_TIMEOUT",
        expected: "a duration in seconds (or with a unit: 500ms, 10s, 2min, 1h) up to 24 days, 0 to wait forever, e.g. pool_timeout=10",
    },
    ParamSpec {
        param: Param::ConnectTimeout,
        name: "connect_timeout",
        aliases: &[],
        env_var: "PERSISTENCE_CONNECT_TIMEOUT",
        expected: DURATION_OR_OFF,
    },
    ParamSpec {
        param: Param::StatementTimeout,
        name: "statement_timeout",
        aliases: &[],
        env_var: "PERSISTENCE_STATEMENT_TIMEOUT",
        expected: DURATION_OR_OFF,
    },
    ParamSpec {
        param: Param::SocketTimeout,
        name: "socket_timeout",
        aliases: &[],
        env_var: "PERSISTENCE_SOCKET_TIMEOUT",
        expected: DURATION_OR_OFF,
    },
    ParamSpec {
        param: Param::MaxIdleConnectionLifetime,
        name: "max_idle_connection_lifetime",
        aliases: &[],
        env_var: "PERSISTENCE_MAX_IDLE_CONNECTION_LIFETIME",
        expected: DURATION_OR_OFF,
    },
    ParamSpec {
        param: Param::MaxConnectionLifetime,
        name: "max_connection_lifetime",
        aliases: &[],
        env_var: "PERSISTENCE_MAX_CONNECTION_LIFETIME",
        expected: DURATION_OR_OFF,
    },
    ParamSpec {
        param: Param::PgBouncer,
        name: "pgbouncer",
        aliases: &[],
        env_var: "PERSISTENCE_PGBOUNCER",
        expected: "true or false",
    },
    ParamSpec {
        param: Param::StatementCacheSize,
        name: "statement_cache_size",
        aliases: &["statement-cache-capacity"],
        env_var: "PERSISTENCE_STATEMENT_CACHE_SIZE",
        expected: "a whole number of prepared statements from 0 to 10000, e.g. statement_cache_size=100",
    },
    ParamSpec {
        param: Param::SslMode,
        name: "sslmode",
        aliases: &["ssl-mode"],
        env_var: "PERSISTENCE_SSLMODE",
        expected: "one of disable, allow, prefer, require, verify-ca, verify-full",
    },
    ParamSpec {
        param: Param::SslRootCert,
        name: "sslrootcert",
        aliases: &["ssl-root-cert", "ssl-ca"],
        env_var: "PERSISTENCE_SSLROOTCERT",
        expected: "the path of a CA certificate file (PEM)",
    },
    ParamSpec {
        param: Param::ApplicationName,
        name: "application_name",
        aliases: &[],
        env_var: "PERSISTENCE_APPLICATION_NAME",
        expected: "a non-empty name of at most 63 bytes, e.g. application_name=billing",
    },
    ParamSpec {
        param: Param::Schema,
        name: "schema",
        aliases: &[],
        env_var: "PERSISTENCE_SCHEMA",
        expected: "a non-empty schema name of at most 63 bytes, e.g. schema=public",
    },
    ParamSpec {
        param: Param::SlowAcquireThreshold,
        name: "slow_acquire_threshold",
        aliases: &[],
        env_var: "PERSISTENCE_SLOW_ACQUIRE_THRESHOLD",
        expected: DURATION_OR_OFF,
    },
];

// `Param::spec` finds a row by the variant's position: the rows follow the variants.
const _: () = {
    let mut index = 0;
    while index < PARAMS.len() {
        assert!(
            PARAMS[index].param as usize == index,
            "PARAMS lists the parameters in the order of Param's variants"
        );
        index += 1;
    }
};

/// URL parameters handed to sqlx as they are (libpq's names), known so that typos of them
/// get a suggestion too.
const SQLX_URL_PARAMETERS: [&str; 9] = [
    "host", "hostaddr", "port", "user", "password", "dbname", "sslcert", "sslkey", "options",
];

impl Param {
    fn spec(self) -> ParamSpec {
        PARAMS[self as usize]
    }

    /// Every parameter, in the order they are documented.
    pub(crate) fn all() -> impl Iterator<Item = Param> {
        PARAMS.into_iter().map(|spec| spec.param)
    }

    /// The canonical name, as written in a URL.
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// The environment variable that overrides the URL (`PERSISTENCE_CONNECTION_LIMIT`).
    pub(crate) fn env_var(self) -> &'static str {
        self.spec().env_var
    }

    /// Finds a parameter by its URL name, accepting the spellings sqlx uses as well.
    pub(crate) fn from_url_key(key: &str) -> Option<Param> {
        PARAMS
            .into_iter()
            .find(|spec| spec.name == key || spec.aliases.contains(&key))
            .map(|spec| spec.param)
    }

    /// What the parameter accepts, with an example; the end of "expected ..." in errors.
    pub(crate) fn expected(self) -> &'static str {
        self.spec().expected
    }
}

/// Every parameter name accepted in a URL: ours first, then the ones handed to sqlx.
pub(crate) fn known_url_parameters() -> impl Iterator<Item = &'static str> {
    PARAMS
        .into_iter()
        .map(|spec| spec.name)
        .chain(SQLX_URL_PARAMETERS)
}

/// libpq/sqlx parameters that do not tune the pool and are passed on to sqlx as they are.
pub(crate) fn is_passthrough(key: &str) -> bool {
    matches!(
        key,
        "sslcert" | "ssl-cert" | "sslkey" | "ssl-key" | "options"
    ) || key.starts_with("options[")
}

/// Parameters some other client accepts but sqlx cannot honour, with what to use instead.
pub(crate) fn unsupported_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "sslidentity" | "sslpassword" => {
            "sqlx reads a PEM client certificate and key: use sslcert=PATH and sslkey=PATH"
        }
        "sslaccept" => {
            "use sslmode=require to skip certificate verification or sslmode=verify-full to enforce it"
        }
        "target_session_attrs" | "load_balance_hosts" => {
            "sqlx connects to a single host; point the URL at the primary (or a proxy)"
        }
        _ => return None,
    })
}

/// The known parameter closest to a misspelled one, if it is close enough to be a typo.
pub(crate) fn suggest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.to_ascii_lowercase();
    known_url_parameters()
        .map(|known| (edit_distance(&unknown, known), known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 5))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// The Levenshtein distance between `a` and `b`: the fewest characters to insert, delete or
/// replace to turn one into the other (a parameter name is a few dozen bytes: one row of the
/// table at a time is plenty).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let replaced = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// How strictly the connection uses TLS; the same modes, with the same meaning, as libpq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Try without TLS first, then with.
    Allow,
    /// Try TLS first, then without (libpq's default).
    Prefer,
    /// Only TLS; the certificate is verified only if `sslrootcert` is given.
    Require,
    /// Only TLS, and the certificate must be signed by a trusted CA.
    VerifyCa,
    /// Only TLS, trusted CA, and the certificate must match the host name.
    VerifyFull,
}

impl SslMode {
    /// True for modes that refuse to connect without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }

    /// The libpq spelling (`verify-full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    pub(crate) fn to_sqlx(self) -> sqlx::postgres::PgSslMode {
        use sqlx::postgres::PgSslMode;
        match self {
            Self::Disable => PgSslMode::Disable,
            Self::Allow => PgSslMode::Allow,
            Self::Prefer => PgSslMode::Prefer,
            Self::Require => PgSslMode::Require,
            Self::VerifyCa => PgSslMode::VerifyCa,
            Self::VerifyFull => PgSslMode::VerifyFull,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" | "verify_ca" => Self::VerifyCa,
            "verify-full" | "verify_full" => Self::VerifyFull,
            _ => return Err(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_env_vars_are_consistent() {
        for param in Param::all() {
            assert_eq!(Param::from_url_key(param.name()), Some(param));
            assert_eq!(
                param.env_var(),
                format!("PERSISTENCE_{}", param.name().to_ascii_uppercase())
            );
            assert!(known_url_parameters().any(|known| known == param.name()));
            assert!(!param.expected().is_empty());
        }
        assert_eq!(Param::from_url_key("ssl-mode"), Some(Param::SslMode));
        assert_eq!(Param::from_url_key("ssl-ca"), Some(Param::SslRootCert));
        assert_eq!(
            Param::from_url_key("ssl-root-cert"),
            Some(Param::SslRootCert)
        );
        assert_eq!(
            Param::from_url_key("statement-cache-capacity"),
            Some(Param::StatementCacheSize)
        );
        assert_eq!(Param::from_url_key("nope"), None);
    }

    #[test]
    fn ssl_modes() {
        for mode in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(mode.as_str().parse(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
            assert_eq!(
                mode.requires_tls(),
                matches!(
                    mode,
                    SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
                )
            );
            // The sqlx mode prints with the same name, so the mapping is one to one.
            assert_eq!(
                format!("{:?}", mode.to_sqlx()).to_ascii_lowercase(),
                mode.as_str().replace('-', "")
            );
        }
        assert_eq!("VERIFY_FULL".parse(), Ok(SslMode::VerifyFull));
        assert_eq!("strict".parse::<SslMode>(), Err(()));
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("pool_timout", "pool_timeout"), 1);
        assert_eq!(edit_distance("sslmode", "sslmode"), 0);
        assert_eq!(edit_distance("ab", "ba"), 2);
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("conection_limit"), Some("connection_limit"));
        assert_eq!(suggest("SSLMODE"), Some("sslmode"));
        assert_eq!(suggest("pool_timout"), Some("pool_timeout"));
        assert_eq!(suggest("completely_different"), None);
        assert_eq!(suggest("HOSTADR"), Some("hostaddr"));
    }

    #[test]
    fn passthrough_and_unsupported() {
        for key in [
            "sslcert",
            "ssl-cert",
            "sslkey",
            "ssl-key",
            "options",
            "options[geqo]",
        ] {
            assert!(is_passthrough(key), "{key}");
        }
        assert!(!is_passthrough("sslmode"));
        for key in [
            "sslidentity",
            "sslpassword",
            "sslaccept",
            "target_session_attrs",
            "load_balance_hosts",
        ] {
            assert!(unsupported_hint(key).is_some(), "{key}");
        }
        assert!(unsupported_hint("schema").is_none());
    }
}
