//! The tunable parameters: their names in URLs and in the environment, and how each value is
//! parsed and checked.
//!
//! Every source of settings (URL, environment, builder) fills a [`Layer`]; the layers are then
//! merged by precedence in [`super::PgConfig`]. Parsing is pure so every rule is unit-tested.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::error::{ConfigError, Origin};
use crate::postgres::redact::redact_passwords;

/// The largest duration any parameter accepts: PostgreSQL keeps timeouts in milliseconds in an
/// `i32`, so this (about 24.8 days) is also the largest `statement_timeout` it can enforce.
pub(crate) const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// The largest pool size accepted; far above any sane PostgreSQL `max_connections`.
pub(crate) const MAX_CONNECTION_LIMIT: u32 = 10_000;

/// PostgreSQL truncates identifiers and `application_name` to 63 bytes (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;

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
/// a parameter is a variant of [`Param`], a row here, and where [`Layer::set`] stores it.
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

/// Parses a duration: a bare whole number is seconds (as in Prisma's URL parameters), or a
/// whole number followed by `ms`, `s`, `m`/`min` or `h`.
pub(crate) fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let millis_per_unit: u64 = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1_000,
        "ms" => 1,
        "m" | "min" | "mins" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    let duration = Duration::from_millis(amount.checked_mul(millis_per_unit)?);
    (duration <= MAX_DURATION).then_some(duration)
}

/// Parses a whole number in `min..=max`.
pub(crate) fn parse_count(raw: &str, min: u64, max: u64) -> Option<u64> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
}

/// Parses a boolean the way people write them in URLs and environment variables.
pub(crate) fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A non-empty name PostgreSQL will not truncate.
fn parse_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty() && name.len() <= MAX_NAME_BYTES && !name.contains('\0'))
        .then(|| name.to_owned())
}

/// A duration where zero means "no limit": `Some(None)` is an explicit "off".
fn limit(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The settings given by one source. `None` means "this source does not say".
///
/// Durations are `Option<Option<Duration>>`: the outer option says whether the source set the
/// parameter, the inner one whether it set a limit or turned it off (a value of 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) connection_limit: Option<u32>,
    pub(crate) pool_timeout: Option<Option<Duration>>,
    pub(crate) connect_timeout: Option<Option<Duration>>,
    pub(crate) statement_timeout: Option<Option<Duration>>,
    pub(crate) idle_timeout: Option<Option<Duration>>,
    pub(crate) max_lifetime: Option<Option<Duration>>,
    pub(crate) pgbouncer: Option<bool>,
    pub(crate) statement_cache_size: Option<usize>,
    pub(crate) ssl_mode: Option<SslMode>,
    pub(crate) ssl_root_cert: Option<PathBuf>,
    pub(crate) application_name: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) slow_acquire_threshold: Option<Option<Duration>>,
    /// Which spelling set `statement_timeout`, to report `socket_timeout` conflicts precisely.
    pub(crate) statement_timeout_given_as: Option<(Param, String)>,
}

impl Layer {
    /// Parses `raw` as the value of `param` and records it.
    pub(crate) fn set(
        &mut self,
        param: Param,
        raw: &str,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let invalid = || ConfigError::InvalidValue {
            param: param.name(),
            value: redact_passwords(raw).into_owned(),
            origin: origin.clone(),
            expected: param.expected(),
        };
        let duration = || parse_duration(raw).ok_or_else(invalid);
        match param {
            Param::ConnectionLimit => {
                let n = parse_count(raw, 1, u64::from(MAX_CONNECTION_LIMIT)).ok_or_else(invalid)?;
                self.connection_limit = u32::try_from(n).ok();
            }
            Param::PoolTimeout => self.pool_timeout = Some(limit(duration()?)),
            Param::ConnectTimeout => self.connect_timeout = Some(limit(duration()?)),
            Param::StatementTimeout | Param::SocketTimeout => {
                let value = limit(duration()?);
                if let Some((earlier, earlier_raw)) = &self.statement_timeout_given_as
                    && *earlier != param
                    && self.statement_timeout != Some(value)
                {
                    return Err(ConfigError::Conflict {
                        first: format!("{}={earlier_raw} {origin}", earlier.name()),
                        second: format!("{}={} {origin}", param.name(), redact_passwords(raw)),
                        hint: "both set the per-statement time limit; keep one of them",
                    });
                }
                self.statement_timeout = Some(value);
                self.statement_timeout_given_as = Some((param, redact_passwords(raw).into_owned()));
            }
            Param::MaxIdleConnectionLifetime => self.idle_timeout = Some(limit(duration()?)),
            Param::MaxConnectionLifetime => self.max_lifetime = Some(limit(duration()?)),
            Param::SlowAcquireThreshold => self.slow_acquire_threshold = Some(limit(duration()?)),
            Param::PgBouncer => self.pgbouncer = Some(parse_bool(raw).ok_or_else(invalid)?),
            Param::StatementCacheSize => {
                let n = parse_count(raw, 0, 10_000).ok_or_else(invalid)?;
                self.statement_cache_size = usize::try_from(n).ok();
            }
            Param::SslMode => self.ssl_mode = Some(raw.trim().parse().map_err(|()| invalid())?),
            Param::SslRootCert => {
                let path = raw.trim();
                if path.is_empty() {
                    return Err(invalid());
                }
                self.ssl_root_cert = Some(PathBuf::from(path));
            }
            Param::ApplicationName => {
                self.application_name = Some(parse_name(raw).ok_or_else(invalid)?)
            }
            Param::Schema => self.schema = Some(parse_name(raw).ok_or_else(invalid)?),
        }
        Ok(())
    }

    /// Reads every `PERSISTENCE_*` variable through `env`. Empty variables count as unset, so
    /// `PERSISTENCE_SCHEMA=` in a compose file does not become an error.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let mut layer = Layer::default();
        for param in Param::all() {
            let var = param.env_var();
            if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
                layer.set(param, &value, &Origin::Env(var))?;
            }
        }
        Ok(layer)
    }
}

/// Picks the first value given by the layers, which are ordered by precedence.
pub(crate) fn first<T: Clone>(
    layers: &[&Layer],
    field: impl Fn(&Layer) -> &Option<T>,
) -> Option<T> {
    layers.iter().find_map(|layer| field(layer).clone())
}

/// The default pool size: Prisma's "physical cores * 2 + 1". `available_parallelism` counts
/// logical CPUs and honours cgroup quotas, which is what a container is actually given.
pub(crate) fn default_connection_limit() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    connection_limit_for_cores(cores)
}

pub(crate) fn connection_limit_for_cores(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(2).saturating_add(1))
        .unwrap_or(MAX_CONNECTION_LIMIT)
        .min(MAX_CONNECTION_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each parameter but the `socket_timeout` alias: a value it accepts, and values it
    /// refuses (sslmode's refusal is checked with its whole message).
    const VALUES: [(Param, &str, &[&str]); 13] = [
        (Param::ConnectionLimit, "7", &["0", "10001"]),
        (Param::PoolTimeout, "0", &["soon"]),
        (Param::ConnectTimeout, "3", &["-5"]),
        (Param::StatementTimeout, "1500ms", &["1.5"]),
        (Param::MaxIdleConnectionLifetime, "60", &["x"]),
        (Param::MaxConnectionLifetime, "0", &["x"]),
        (Param::PgBouncer, "true", &["sometimes"]),
        (Param::StatementCacheSize, "0", &["-1"]),
        (Param::SslMode, "require", &[]),
        (Param::SslRootCert, "/etc/ca.pem", &[" "]),
        (Param::ApplicationName, "billing", &[""]),
        (Param::Schema, "tenant_1", &[""]),
        (Param::SlowAcquireThreshold, "250ms", &["x"]),
    ];

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
    fn durations() {
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration(" 10s "), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1sec"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("2147483647ms"), Some(MAX_DURATION));
        for bad in [
            "",
            "-1",
            "1.5",
            "ten",
            "10 parsecs",
            "s",
            "2147484s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_bools_names() {
        assert_eq!(parse_count("5", 1, 10), Some(5));
        assert_eq!(parse_count("0", 1, 10), None);
        assert_eq!(parse_count("11", 1, 10), None);
        assert_eq!(parse_count("-1", 1, 10), None);
        for (raw, value) in [("true", true), ("YES", true), ("1", true), ("on", true)] {
            assert_eq!(parse_bool(raw), Some(value));
        }
        for (raw, value) in [
            ("false", false),
            ("No", false),
            ("0", false),
            ("off", false),
        ] {
            assert_eq!(parse_bool(raw), Some(value));
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_name(" app "), Some("app".into()));
        assert_eq!(parse_name(""), None);
        assert_eq!(parse_name(&"x".repeat(64)), None);
        assert_eq!(parse_name("a\0b"), None);
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
    fn layer_rejects_bad_values_with_the_parameter_value_and_origin() {
        let mut layer = Layer::default();
        let error = layer
            .set(Param::ConnectionLimit, "-1", &Origin::Url)
            .expect_err("negative limit");
        assert_eq!(
            error.to_string(),
            "invalid connection_limit `-1` in the database URL: expected a whole number of \
             connections from 1 to 10000, e.g. connection_limit=10"
        );
        let error = layer
            .set(
                Param::SslMode,
                "strict",
                &Origin::Env("PERSISTENCE_SSLMODE"),
            )
            .expect_err("unknown sslmode");
        assert!(
            error
                .to_string()
                .contains("invalid sslmode `strict` in environment variable PERSISTENCE_SSLMODE")
        );
        for (param, raw) in VALUES
            .into_iter()
            .flat_map(|(param, _, refused)| refused.iter().map(move |raw| (param, *raw)))
        {
            let error = layer.set(param, raw, &Origin::Code).expect_err(raw);
            let message = error.to_string();
            assert!(message.contains(param.name()), "{message}");
            assert!(message.contains(&format!("`{raw}`")), "{message}");
            assert!(message.contains("set in code"), "{message}");
        }
    }

    #[test]
    fn layer_records_every_parameter() {
        let mut layer = Layer::default();
        let origin = Origin::Url;
        for (param, raw, _) in VALUES {
            layer.set(param, raw, &origin).expect(raw);
        }
        assert_eq!(layer.connection_limit, Some(7));
        assert_eq!(layer.pool_timeout, Some(None));
        assert_eq!(layer.connect_timeout, Some(Some(Duration::from_secs(3))));
        assert_eq!(
            layer.statement_timeout,
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(layer.idle_timeout, Some(Some(Duration::from_secs(60))));
        assert_eq!(layer.max_lifetime, Some(None));
        assert_eq!(layer.pgbouncer, Some(true));
        assert_eq!(layer.statement_cache_size, Some(0));
        assert_eq!(layer.ssl_mode, Some(SslMode::Require));
        assert_eq!(layer.ssl_root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(layer.application_name.as_deref(), Some("billing"));
        assert_eq!(layer.schema.as_deref(), Some("tenant_1"));
        assert_eq!(
            layer.slow_acquire_threshold,
            Some(Some(Duration::from_millis(250)))
        );
    }

    #[test]
    fn socket_timeout_is_an_alias_that_must_agree() {
        let mut layer = Layer::default();
        layer
            .set(Param::SocketTimeout, "5", &Origin::Url)
            .expect("alias");
        assert_eq!(layer.statement_timeout, Some(Some(Duration::from_secs(5))));
        layer
            .set(Param::StatementTimeout, "5s", &Origin::Url)
            .expect("same value");
        let error = layer
            .set(Param::SocketTimeout, "6", &Origin::Url)
            .expect_err("different values");
        assert_eq!(
            error.to_string(),
            "statement_timeout=5s in the database URL conflicts with socket_timeout=6 in the \
             database URL: both set the per-statement time limit; keep one of them"
        );
        // Repeating the same spelling is not a conflict: the last one wins.
        layer
            .set(Param::StatementTimeout, "9", &Origin::Url)
            .expect("repeat");
        assert_eq!(layer.statement_timeout, Some(Some(Duration::from_secs(9))));
    }

    #[test]
    fn env_layer_reads_every_variable_and_skips_empty_ones() {
        let env = |name: &str| match name {
            "PERSISTENCE_CONNECTION_LIMIT" => Some("12".to_owned()),
            "PERSISTENCE_SCHEMA" => Some("  ".to_owned()),
            "PERSISTENCE_PGBOUNCER" => Some("yes".to_owned()),
            _ => None,
        };
        let layer = Layer::from_env(&env).expect("valid");
        assert_eq!(layer.connection_limit, Some(12));
        assert_eq!(layer.schema, None);
        assert_eq!(layer.pgbouncer, Some(true));
        let bad = |name: &str| (name == "PERSISTENCE_POOL_TIMEOUT").then(|| "abc".to_owned());
        let error = Layer::from_env(&bad).expect_err("invalid");
        assert!(error.to_string().contains("PERSISTENCE_POOL_TIMEOUT"));
    }

    #[test]
    fn precedence_picks_the_first_layer_that_says_something() {
        let top = Layer {
            schema: Some("a".into()),
            ..Layer::default()
        };
        let middle = Layer {
            schema: Some("b".into()),
            connection_limit: Some(3),
            ..Layer::default()
        };
        let bottom = Layer {
            connection_limit: Some(4),
            pgbouncer: Some(true),
            ..Layer::default()
        };
        let layers = [&top, &middle, &bottom];
        assert_eq!(first(&layers, |l| &l.schema).as_deref(), Some("a"));
        assert_eq!(first(&layers, |l| &l.connection_limit), Some(3));
        assert_eq!(first(&layers, |l| &l.pgbouncer), Some(true));
        assert_eq!(first(&layers, |l| &l.ssl_mode), None);
    }

    #[test]
    fn default_limit_follows_prisma() {
        assert_eq!(connection_limit_for_cores(1), 3);
        assert_eq!(connection_limit_for_cores(2), 5);
        assert_eq!(connection_limit_for_cores(8), 17);
        assert_eq!(connection_limit_for_cores(usize::MAX), MAX_CONNECTION_LIMIT);
        assert!(default_connection_limit() >= 3);
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
