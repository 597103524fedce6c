//! [`check`]: is the database usable from this process, and if not, why?
//!
//! The report has the shape of `application/health+json` (IETF draft
//! `draft-inadarei-api-health-check`): a `status` of `pass`, `warn` or `fail`, and `checks`
//! whose entries are arrays of objects with `componentType`, `observedValue`, `observedUnit`,
//! `status` and `output`.
//!
//! sqlx reports both "the server is down" and "every pooled connection is busy" as a pool
//! timeout. When the pool times out, the check opens one direct connection with the pool's
//! options: if that answers, the pool is exhausted (`warn`: the database is fine, this
//! process is saturated); if not, its error says what is wrong with the server (`fail`).
//!
//! Measuring ([`probe`]) and judging ([`HealthReport::from_probe`]) are separate, so every
//! verdict is tested without a server.

use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use sqlx::postgres::{PgConnection, PgPool};

use super::ErrorCategory;
use super::client::millis;
use super::error::{Error, Kind};
use super::{PoolTimeoutCause, diagnose_pool_timeout};

/// The media type of a serialized [`HealthReport`].
pub const HEALTH_CONTENT_TYPE: &str = "application/health+json";

/// Limits of a health check.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistence::postgres::HealthOptions;
///
/// // Each step may take 1 s; SELECT 1 slower than 50 ms warns.
/// let options = HealthOptions::new()
///     .timeout(Duration::from_secs(1))
///     .warn_latency(Duration::from_millis(50));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    timeout: Duration,
    warn_latency: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            // Well under typical probe timeouts of orchestrators (Kubernetes: 1-5 s per probe
            // period) while leaving room for opening a connection (3-4 ms locally, far more
            // over TLS to a remote region).
            timeout: Duration::from_secs(2),
            // SELECT 1 takes well under a millisecond on a LAN; 100 ms means trouble.
            warn_latency: Duration::from_millis(100),
        }
    }
}

impl HealthOptions {
    /// The defaults: 2 s timeout, warn above 100 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long each step (getting a connection, running `SELECT 1`, the direct probe) may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `SELECT 1` slower than this makes the status `warn`.
    pub fn warn_latency(mut self, threshold: Duration) -> Self {
        self.warn_latency = threshold;
        self
    }
}

/// The verdict of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Usable, with a concern (slow, or this process's pool is saturated).
    Warn,
    /// Not usable.
    Fail,
}

/// How the pool's connections are used, at the start of the check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Open connections checked out by the application.
    pub in_use: u32,
    /// The pool's maximum size.
    pub max: u32,
}

impl PoolStats {
    /// The current numbers of `pool`.
    pub fn of(pool: &PgPool) -> Self {
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
        Self {
            size,
            idle,
            in_use: size - idle,
            max: pool.options().get_max_connections(),
        }
    }
}

/// What a probe of the database measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// A pooled connection ran `SELECT 1`.
    Answered {
        /// Time to get a connection from the pool.
        acquire: Duration,
        /// Round trip of `SELECT 1`.
        latency: Duration,
        /// The server's version (`15.6`).
        server_version: Option<String>,
    },
    /// The pool had no connection to give within the timeout, but a direct connection
    /// answered: the server is fine, this process's pool is exhausted.
    PoolExhausted {
        /// How long the pool was waited for.
        waited: Duration,
        /// Round trip of `SELECT 1` on the direct connection.
        latency: Duration,
        /// The server's version.
        server_version: Option<String>,
    },
    /// The database could not be used.
    Failed {
        /// What kind of failure.
        category: ErrorCategory,
        /// The (redacted) error message.
        message: String,
    },
}

/// One `application/health+json` check entry about the `SELECT 1` round trip.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseTimeCheck {
    /// Always `datastore`.
    pub component_type: &'static str,
    /// The verdict of this check.
    pub status: HealthStatus,
    /// Milliseconds, when a round trip completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<f64>,
    /// Always `ms`.
    pub observed_unit: &'static str,
    /// What went wrong or is worrying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error category when the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<ErrorCategory>,
}

/// One `application/health+json` check entry about the pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionsCheck {
    /// Always `datastore`.
    pub component_type: &'static str,
    /// The verdict of this check.
    pub status: HealthStatus,
    /// Connections in use.
    pub observed_value: u32,
    /// Always `connections`.
    pub observed_unit: &'static str,
    /// The pool's numbers.
    #[serde(flatten)]
    pub pool: PoolStats,
    /// Milliseconds spent getting a pooled connection, when one was had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_ms: Option<f64>,
    /// What is worrying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `timeout` when the pool is exhausted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<ErrorCategory>,
}

/// The checks of a [`HealthReport`], keyed as `application/health+json` wants
/// (`component:measurement`, each an array).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthChecks {
    /// `postgres:responseTime`.
    #[serde(rename = "postgres:responseTime", serialize_with = "one_element_array")]
    pub response_time: ResponseTimeCheck,
    /// `postgres:connections`.
    #[serde(rename = "postgres:connections", serialize_with = "one_element_array")]
    pub connections: ConnectionsCheck,
}

fn one_element_array<S: Serializer, T: Serialize>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    [value].serialize(serializer)
}

/// The result of [`check`], serializable as `application/health+json`.
///
/// ```json
/// {
///   "status": "pass",
///   "serverVersion": "15.6",
///   "checks": {
///     "postgres:responseTime": [{"componentType": "datastore", "status": "pass",
///                                "observedValue": 0.412, "observedUnit": "ms"}],
///     "postgres:connections": [{"componentType": "datastore", "status": "pass",
///                               "observedValue": 1, "observedUnit": "connections",
///                               "size": 2, "idle": 1, "inUse": 1, "max": 5, "acquireMs": 0.05}]
///   }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The worst status of the checks.
    pub status: HealthStatus,
    /// Why the status is not `pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error category, when an error was observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<ErrorCategory>,
    /// The server's version, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The individual checks.
    pub checks: HealthChecks,
}

impl HealthReport {
    /// Judges a probe: the pure half of [`check`].
    pub fn from_probe(probe: &Probe, pool: PoolStats, options: &HealthOptions) -> Self {
        let mut response_time = ResponseTimeCheck {
            component_type: "datastore",
            status: HealthStatus::Pass,
            observed_value: None,
            observed_unit: "ms",
            output: None,
            category: None,
        };
        let saturated = pool.max > 0 && pool.in_use >= pool.max;
        let mut connections = ConnectionsCheck {
            component_type: "datastore",
            status: if saturated {
                HealthStatus::Warn
            } else {
                HealthStatus::Pass
            },
            observed_value: pool.in_use,
            observed_unit: "connections",
            pool,
            acquire_ms: None,
            output: saturated
                .then(|| format!("all {} connections of the pool are in use", pool.max)),
            category: None,
        };
        let mut server_version = None;

        match probe {
            Probe::Answered {
                acquire,
                latency,
                server_version: version,
            } => {
                judge_latency(&mut response_time, *latency, options);
                connections.acquire_ms = Some(millis(*acquire));
                server_version.clone_from(version);
            }
            Probe::PoolExhausted {
                waited,
                latency,
                server_version: version,
            } => {
                judge_latency(&mut response_time, *latency, options);
                connections.status = HealthStatus::Warn;
                connections.category = Some(ErrorCategory::Timeout);
                connections.output = Some(format!(
                    "pool exhausted: no connection was free within {} ms ({} of {} in use); the \
                     server itself answers, so look for slow queries or connections held too long",
                    millis(*waited),
                    pool.in_use,
                    pool.max
                ));
                server_version.clone_from(version);
            }
            Probe::Failed { category, message } => {
                response_time.status = HealthStatus::Fail;
                response_time.output = Some(message.clone());
                response_time.category = Some(*category);
            }
        }

        let status = response_time.status.max(connections.status);
        // The most severe check explains the status; on a tie the response time does.
        let (output, category) = if status == HealthStatus::Pass {
            (None, None)
        } else if response_time.status == status {
            (response_time.output.clone(), response_time.category)
        } else {
            (connections.output.clone(), connections.category)
        };
        Self {
            status,
            output,
            category,
            server_version,
            checks: HealthChecks {
                response_time,
                connections,
            },
        }
    }

    /// True unless the status is `fail`.
    pub fn is_usable(&self) -> bool {
        self.status != HealthStatus::Fail
    }

    /// The HTTP status a health endpoint should answer with: 200 for pass and warn, 503 for fail.
    pub fn http_status(&self) -> u16 {
        if self.is_usable() { 200 } else { 503 }
    }
}

fn judge_latency(check: &mut ResponseTimeCheck, latency: Duration, options: &HealthOptions) {
    check.observed_value = Some(millis(latency));
    if latency > options.warn_latency {
        check.status = HealthStatus::Warn;
        check.output = Some(format!(
            "SELECT 1 took {} ms, more than the {} ms threshold",
            millis(latency),
            millis(options.warn_latency)
        ));
    }
}

/// Checks `pool` with the default [`HealthOptions`].
///
/// # Example
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) {
/// let report = persistence::postgres::check(&pool).await;
/// let body = serde_json::to_string(&report).expect("serializable");
/// let code = report.http_status(); // 200 or 503
/// # }
/// ```
pub async fn check(pool: &PgPool) -> HealthReport {
    check_with(pool, &HealthOptions::default()).await
}

/// Checks `pool`: measures with [`probe`], judges with [`HealthReport::from_probe`].
pub async fn check_with(pool: &PgPool, options: &HealthOptions) -> HealthReport {
    let stats = PoolStats::of(pool);
    let measured = probe(pool, options).await;
    HealthReport::from_probe(&measured, stats, options)
}

/// Measures: `SELECT 1` through the pool, and a direct connection if the pool times out.
pub async fn probe(pool: &PgPool, options: &HealthOptions) -> Probe {
    if pool.is_closed() {
        return failed(&Kind::PoolShutDown.into());
    }
    let started = Instant::now();
    let acquired = tokio::time::timeout(options.timeout, pool.acquire()).await;
    let mut connection = match acquired {
        Ok(Ok(connection)) => connection,
        // Both mean "no connection in time": the server may be down or the pool full.
        Err(_) | Ok(Err(sqlx::Error::PoolTimedOut)) => {
            return probe_directly(pool, options, started.elapsed()).await;
        }
        Ok(Err(error)) => return failed(&Error::from(error)),
    };
    let acquire = started.elapsed();
    match select_one(&mut connection, options).await {
        Ok(latency) => Probe::Answered {
            acquire,
            latency,
            server_version: connection.server_version_num().map(format_server_version),
        },
        Err(failure) => failure,
    }
}

async fn probe_directly(pool: &PgPool, options: &HealthOptions, waited: Duration) -> Probe {
    let mut connection = match diagnose_pool_timeout(pool, Some(options.timeout)).await {
        PoolTimeoutCause::Exhausted(connection) => connection,
        PoolTimeoutCause::ServerRefused(error) => return failed(&error),
    };
    let outcome = match select_one(&mut connection, options).await {
        Ok(latency) => Probe::PoolExhausted {
            waited,
            latency,
            server_version: connection.server_version_num().map(format_server_version),
        },
        Err(failure) => failure,
    };
    let _ = sqlx::Connection::close(connection).await;
    outcome
}

/// Runs `SELECT 1` within the timeout and returns its round trip, or the failed probe.
async fn select_one(
    connection: &mut PgConnection,
    options: &HealthOptions,
) -> Result<Duration, Probe> {
    let started = Instant::now();
    let round_trip = sqlx::query("SELECT 1").execute(&mut *connection);
    match tokio::time::timeout(options.timeout, round_trip).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(error)) => Err(failed(&Error::from(error))),
        Err(_) => Err(Probe::Failed {
            category: ErrorCategory::Timeout,
            message: format!(
                "database operation timed out: SELECT 1 did not answer within {} ms",
                millis(options.timeout)
            ),
        }),
    }
}

fn failed(error: &Error) -> Probe {
    Probe::Failed {
        category: error.category(),
        message: error.to_string(),
    }
}

/// `server_version_num` (150006) as people write it (15.6); 9.x had three parts (90624: 9.6.24).
// Used by the persistence CLI (`dev`, `health`) and this crate's tests, not a stable API.
#[doc(hidden)]
pub fn format_server_version(number: u32) -> String {
    if number >= 100_000 {
        format!("{}.{}", number / 10_000, number % 10_000)
    } else {
        format!(
            "{}.{}.{}",
            number / 10_000,
            number / 100 % 100,
            number % 100
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(size: u32, idle: u32, max: u32) -> PoolStats {
        PoolStats {
            size,
            idle,
            in_use: size - idle,
            max,
        }
    }

    #[test]
    fn healthy_report_field_by_field() {
        let probe = Probe::Answered {
            acquire: Duration::from_micros(50),
            latency: Duration::from_micros(412),
            server_version: Some("15.6".into()),
        };
        let report = HealthReport::from_probe(&probe, stats(2, 1, 5), &HealthOptions::default());
        assert_eq!(report.status, HealthStatus::Pass);
        assert!(report.is_usable());
        assert_eq!(report.http_status(), 200);
        assert_eq!(
            serde_json::to_value(&report).expect("serializes"),
            json!({
                "status": "pass",
                "serverVersion": "15.6",
                "checks": {
                    "postgres:responseTime": [{
                        "componentType": "datastore",
                        "status": "pass",
                        "observedValue": 0.412,
                        "observedUnit": "ms"
                    }],
                    "postgres:connections": [{
                        "componentType": "datastore",
                        "status": "pass",
                        "observedValue": 1,
                        "observedUnit": "connections",
                        "size": 2,
                        "idle": 1,
                        "inUse": 1,
                        "max": 5,
                        "acquireMs": 0.05
                    }]
                }
            })
        );
    }

    #[test]
    fn slow_answers_warn() {
        let probe = Probe::Answered {
            acquire: Duration::ZERO,
            latency: Duration::from_millis(150),
            server_version: None,
        };
        let report = HealthReport::from_probe(&probe, stats(1, 0, 5), &HealthOptions::default());
        assert_eq!(report.status, HealthStatus::Warn);
        assert_eq!(report.http_status(), 200);
        assert_eq!(
            report.output.as_deref(),
            Some("SELECT 1 took 150 ms, more than the 100 ms threshold")
        );
        assert_eq!(report.category, None);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["checks"]["postgres:responseTime"][0]["status"], "warn");
        assert_eq!(
            json["checks"]["postgres:responseTime"][0]["observedValue"],
            150.0
        );
        assert!(json.get("serverVersion").is_none());
    }

    #[test]
    fn a_saturated_pool_warns_even_when_the_probe_got_through() {
        let probe = Probe::Answered {
            acquire: Duration::from_millis(3),
            latency: Duration::from_millis(1),
            server_version: None,
        };
        let report = HealthReport::from_probe(&probe, stats(5, 0, 5), &HealthOptions::default());
        assert_eq!(report.status, HealthStatus::Warn);
        assert_eq!(
            report.output.as_deref(),
            Some("all 5 connections of the pool are in use")
        );
        assert_eq!(report.checks.connections.status, HealthStatus::Warn);
        assert_eq!(report.checks.response_time.status, HealthStatus::Pass);
    }

    #[test]
    fn an_exhausted_pool_is_a_warning_not_a_dead_server() {
        let probe = Probe::PoolExhausted {
            waited: Duration::from_secs(2),
            latency: Duration::from_millis(2),
            server_version: Some("16.1".into()),
        };
        let report = HealthReport::from_probe(&probe, stats(5, 0, 5), &HealthOptions::default());
        assert_eq!(report.status, HealthStatus::Warn);
        assert_eq!(report.category, Some(ErrorCategory::Timeout));
        assert_eq!(report.server_version.as_deref(), Some("16.1"));
        let output = report.output.as_deref().expect("explained");
        assert!(
            output.starts_with(
                "pool exhausted: no connection was free within 2000 ms (5 of 5 in use)"
            ),
            "{output}"
        );
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["category"], "timeout");
        let connections = &json["checks"]["postgres:connections"][0];
        assert_eq!(connections["status"], "warn");
        assert_eq!(connections["category"], "timeout");
        assert!(connections.get("acquireMs").is_none());
        assert_eq!(
            json["checks"]["postgres:responseTime"][0]["observedValue"],
            2.0
        );
    }

    #[test]
    fn an_exhausted_pool_with_a_slow_server_reports_the_latency_first() {
        let probe = Probe::PoolExhausted {
            waited: Duration::from_secs(2),
            latency: Duration::from_millis(500),
            server_version: None,
        };
        let report = HealthReport::from_probe(&probe, stats(5, 0, 5), &HealthOptions::default());
        assert_eq!(report.status, HealthStatus::Warn);
        assert!(
            report
                .output
                .as_deref()
                .is_some_and(|o| o.starts_with("SELECT 1 took 500 ms"))
        );
        assert_eq!(report.category, None);
    }

    #[test]
    fn a_dead_server_fails_with_its_category() {
        for category in [
            ErrorCategory::Unreachable,
            ErrorCategory::AuthFailed,
            ErrorCategory::DatabaseMissing,
            ErrorCategory::TooManyConnections,
            ErrorCategory::ShuttingDown,
            ErrorCategory::Timeout,
            ErrorCategory::Tls,
        ] {
            let probe = Probe::Failed {
                category,
                message: "cannot reach the database server: connection refused".into(),
            };
            let report =
                HealthReport::from_probe(&probe, stats(0, 0, 5), &HealthOptions::default());
            assert_eq!(report.status, HealthStatus::Fail);
            assert!(!report.is_usable());
            assert_eq!(report.http_status(), 503);
            assert_eq!(report.category, Some(category));
            let json = serde_json::to_value(&report).expect("serializes");
            assert_eq!(
                json,
                json!({
                    "status": "fail",
                    "output": "cannot reach the database server: connection refused",
                    "category": category.as_str(),
                    "checks": {
                        "postgres:responseTime": [{
                            "componentType": "datastore",
                            "status": "fail",
                            "observedUnit": "ms",
                            "output": "cannot reach the database server: connection refused",
                            "category": category.as_str()
                        }],
                        "postgres:connections": [{
                            "componentType": "datastore",
                            "status": "pass",
                            "observedValue": 0,
                            "observedUnit": "connections",
                            "size": 0,
                            "idle": 0,
                            "inUse": 0,
                            "max": 5
                        }]
                    }
                })
            );
        }
    }

    #[test]
    fn failure_messages_are_the_redacted_error_text() {
        let error = Error::from(sqlx::Error::Configuration(
            "postgres://u:hunter2@h/db is bad".into(),
        ));
        let Probe::Failed { category, message } = failed(&error) else {
            panic!("a failure");
        };
        assert_eq!(category, ErrorCategory::Config);
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn options_and_versions() {
        let options = HealthOptions::new()
            .timeout(Duration::from_millis(300))
            .warn_latency(Duration::from_millis(7));
        assert_eq!(options.timeout, Duration::from_millis(300));
        assert_eq!(options.warn_latency, Duration::from_millis(7));
        assert_eq!(format_server_version(150006), "15.6");
        assert_eq!(format_server_version(170000), "17.0");
        assert_eq!(format_server_version(90624), "9.6.24");
        assert!(HealthStatus::Fail > HealthStatus::Warn && HealthStatus::Warn > HealthStatus::Pass);
    }

    #[tokio::test]
    async fn a_closed_pool_fails_as_shutting_down() {
        let config =
            crate::postgres::PgConfig::from_url("postgres://localhost/app").expect("valid");
        let pool = crate::postgres::connect_lazy(&config).expect("runtime");
        pool.close().await;
        let report = check(&pool).await;
        assert_eq!(report.status, HealthStatus::Fail);
        assert_eq!(report.category, Some(ErrorCategory::ShuttingDown));
    }

    #[tokio::test]
    async fn a_missing_server_fails_as_unreachable_not_as_a_pool_timeout() {
        let config = crate::postgres::PgConfig::from_url(
            "postgres://localhost/app?host=/nonexistent-socket-dir",
        )
        .expect("valid");
        let pool = crate::postgres::connect_lazy(&config).expect("runtime");
        let options = HealthOptions::new().timeout(Duration::from_millis(200));
        let report = check_with(&pool, &options).await;
        assert_eq!(report.status, HealthStatus::Fail, "{report:?}");
        assert_eq!(
            report.category,
            Some(ErrorCategory::Unreachable),
            "{report:?}"
        );
        assert_eq!(
            PoolStats::of(&pool).max,
            pool.options().get_max_connections()
        );
    }
}
