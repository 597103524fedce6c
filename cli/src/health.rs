//! `persistence health [--json]`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use persistence::postgres::{HealthOptions, HealthReport, HealthStatus, check_with, connect_lazy};

use crate::database;
use crate::error::{CliError, one_line};

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Print the report as application/health+json.
    #[arg(long)]
    json: bool,
    /// How long each step may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
    /// Report `warn` when SELECT 1 takes longer than this, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    warn_ms: u64,
}

pub(crate) async fn run(args: HealthArgs, url: Option<&str>) -> Result<ExitCode, CliError> {
    let config = database::config(url)?;
    let pool = connect_lazy(&config)?;
    let options = HealthOptions::new()
        .timeout(Duration::from_millis(args.timeout_ms))
        .warn_latency(Duration::from_millis(args.warn_ms));
    let report = check_with(&pool, &options).await;
    pool.close().await;
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        say!("{}", render(&report));
    }
    Ok(if report.is_usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line: the verdict, then what was measured or what went wrong.
pub(crate) fn render(report: &HealthReport) -> String {
    let version = report
        .server_version
        .as_deref()
        .map(|v| format!("PostgreSQL {v}"))
        .unwrap_or_else(|| "PostgreSQL".to_owned());
    let latency = report
        .checks
        .response_time
        .observed_value
        .map(|ms| format!(" answered SELECT 1 in {ms} ms"))
        .unwrap_or_default();
    let pool = &report.checks.connections.pool;
    match report.status {
        HealthStatus::Pass => format!(
            "pass: {version}{latency} ({} of {} connections in use)",
            pool.in_use, pool.max
        ),
        HealthStatus::Warn => format!(
            "warn: {}",
            one_line(report.output.as_deref().unwrap_or("degraded"))
        ),
        HealthStatus::Fail => format!(
            "fail ({}): {}",
            report.category.map_or("other", |c| c.as_str()),
            one_line(report.output.as_deref().unwrap_or("unknown failure"))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use persistence::postgres::{ErrorCategory, PoolStats, Probe};

    fn report(probe: Probe) -> HealthReport {
        let stats = PoolStats {
            size: 1,
            idle: 0,
            in_use: 1,
            max: 4,
        };
        HealthReport::from_probe(&probe, stats, &HealthOptions::default())
    }

    #[test]
    fn renders_each_verdict() {
        let pass = report(Probe::Answered {
            acquire: Duration::ZERO,
            latency: Duration::from_micros(400),
            server_version: Some("15.6".into()),
        });
        assert_eq!(
            render(&pass),
            "pass: PostgreSQL 15.6 answered SELECT 1 in 0.4 ms (1 of 4 connections in use)"
        );
        let warn = report(Probe::Answered {
            acquire: Duration::ZERO,
            latency: Duration::from_millis(300),
            server_version: None,
        });
        assert_eq!(
            render(&warn),
            "warn: SELECT 1 took 300 ms, more than the 100 ms threshold"
        );
        let fail = report(Probe::Failed {
            category: ErrorCategory::AuthFailed,
            message: "database authentication failed:\npassword authentication failed".into(),
        });
        assert_eq!(
            render(&fail),
            "fail (auth_failed): database authentication failed: password authentication failed"
        );
    }
}
