//! One source's settings (URL, environment or builder): a [`Layer`], and how each value is
//! parsed and checked. The layers are merged by precedence in [`super::builder`]. Parsing is
//! pure so every rule is unit-tested.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, Origin};
use super::params::{Param, SslMode};
use crate::postgres::redact::redact_passwords;

/// The largest duration any parameter accepts: PostgreSQL keeps timeouts in milliseconds in an
/// `i32`, so this (about 24.8 days) is also the largest `statement_timeout` it can enforce.
pub(crate) const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// The largest pool size accepted; far above any sane PostgreSQL `max_connections`.
pub(crate) const MAX_CONNECTION_LIMIT: u32 = 10_000;

/// PostgreSQL truncates identifiers and `application_name` to 63 bytes (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;

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
}
