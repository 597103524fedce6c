//! `persistence::postgres::check` against real servers: `pass` on a live one, `warn` past a
//! latency threshold, `fail` with the right category for a wrong password, a missing
//! database and an unreachable host; the `application/health+json` output field by field.

use std::collections::BTreeSet;
use std::time::Duration;

use persistence::db_test;
use persistence::postgres::{
    ErrorCategory, HEALTH_CONTENT_TYPE, HealthOptions, HealthReport, HealthStatus, PgConfig, check,
    check_with, connect, connect_lazy, format_server_version,
};
use persistence::testing::TestDb;
use serde_json::Value;

use crate::common::password::with_checked_password;
use crate::common::server::{eventually, free_port, url_for, with_params};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// The one entry of a check, which `application/health+json` wants as an array.
fn entry<'a>(json: &'a Value, check: &str) -> &'a Value {
    let entries = json["checks"][check]
        .as_array()
        .unwrap_or_else(|| panic!("{check} is an array: {json}"));
    assert_eq!(entries.len(), 1, "{json}");
    &entries[0]
}

fn lazy_pool(url: &str) -> sqlx::PgPool {
    connect_lazy(&PgConfig::from_url(url).expect("valid URL")).expect("inside a runtime")
}

/// Checks a failed report, field by field; returns its `output`.
fn assert_failed(report: &HealthReport, category: ErrorCategory, max: u32) -> String {
    assert_eq!(report.status, HealthStatus::Fail, "{report:?}");
    assert_eq!(report.category, Some(category), "{report:?}");
    assert!(!report.is_usable());
    assert_eq!(report.http_status(), 503);
    assert_eq!(report.server_version, None);
    let json = serde_json::to_value(report).expect("serializes");
    assert_eq!(
        keys(&json),
        set(&["status", "output", "category", "checks"])
    );
    assert_eq!(json["status"], "fail");
    assert_eq!(json["category"], category.as_str());
    let output = json["output"].as_str().expect("output").to_owned();
    assert!(!output.is_empty());
    let response = entry(&json, "postgres:responseTime");
    assert_eq!(
        keys(response),
        set(&[
            "componentType",
            "status",
            "observedUnit",
            "output",
            "category"
        ])
    );
    assert_eq!(response["componentType"], "datastore");
    assert_eq!(response["status"], "fail");
    assert_eq!(response["observedUnit"], "ms");
    assert_eq!(response["output"], output.as_str());
    assert_eq!(response["category"], category.as_str());
    let connections = entry(&json, "postgres:connections");
    assert_eq!(connections["status"], "pass");
    assert_eq!(connections["max"], max);
    assert_eq!(connections["inUse"], 0);
    output
}

#[db_test]
async fn a_live_server_passes(db: TestDb) {
    let url = with_params(&url_for(db.name()).await, "connection_limit=3");
    let pool = connect(&PgConfig::from_url(&url).expect("valid"))
        .await
        .expect("connects");
    let mut held = pool.acquire().await.expect("a connection");
    let version_num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *held)
        .await
        .expect("version");
    let expected_version = format_server_version(u32::try_from(version_num).expect("positive"));

    let report = check(&pool).await;
    assert_eq!(report.status, HealthStatus::Pass, "{report:?}");
    assert!(report.is_usable());
    assert_eq!(report.http_status(), 200);
    assert_eq!(HEALTH_CONTENT_TYPE, "application/health+json");

    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(keys(&json), set(&["status", "serverVersion", "checks"]));
    assert_eq!(json["status"], "pass");
    assert_eq!(json["serverVersion"], expected_version.as_str());
    assert_eq!(
        keys(&json["checks"]),
        set(&["postgres:responseTime", "postgres:connections"])
    );

    let response = entry(&json, "postgres:responseTime");
    assert_eq!(
        keys(response),
        set(&["componentType", "status", "observedValue", "observedUnit"])
    );
    assert_eq!(response["componentType"], "datastore");
    assert_eq!(response["status"], "pass");
    assert_eq!(response["observedUnit"], "ms");
    let latency = response["observedValue"].as_f64().expect("milliseconds");
    assert!((0.0..100.0).contains(&latency), "{latency}");

    let connections = entry(&json, "postgres:connections");
    assert_eq!(
        keys(connections),
        set(&[
            "componentType",
            "status",
            "observedValue",
            "observedUnit",
            "size",
            "idle",
            "inUse",
            "max",
            "acquireMs"
        ])
    );
    assert_eq!(connections["componentType"], "datastore");
    assert_eq!(connections["status"], "pass");
    assert_eq!(connections["observedUnit"], "connections");
    assert_eq!(connections["max"], 3);
    // Taken when the check started: our held connection, and nothing idle yet.
    assert_eq!(connections["inUse"], 1);
    assert_eq!(connections["observedValue"], 1);
    assert_eq!(connections["size"], 1);
    assert_eq!(connections["idle"], 0);
    assert!(connections["acquireMs"].as_f64().expect("ms") >= 0.0);

    // The check's own connection went back to the pool.
    drop(held);
    let returned = eventually(Duration::from_secs(2), async || pool.num_idle() == 2).await;
    assert!(returned, "both connections back in the pool");
    let again = serde_json::to_value(check(&pool).await).expect("serializes");
    let connections = entry(&again, "postgres:connections");
    assert_eq!(connections["size"], 2);
    assert_eq!(connections["idle"], 2);
    assert_eq!(connections["inUse"], 0);
    pool.close().await;
}

#[db_test]
async fn a_slow_answer_warns(db: TestDb) {
    let pool = lazy_pool(&url_for(db.name()).await);
    // No SELECT 1 takes 0 ms, so every answer is past this threshold.
    let options = HealthOptions::new().warn_latency(Duration::ZERO);
    let report = check_with(&pool, &options).await;
    assert_eq!(report.status, HealthStatus::Warn, "{report:?}");
    assert!(report.is_usable(), "warn is still usable");
    assert_eq!(report.http_status(), 200);
    assert_eq!(report.category, None);

    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(
        keys(&json),
        set(&["status", "output", "serverVersion", "checks"])
    );
    assert_eq!(json["status"], "warn");
    let output = json["output"].as_str().expect("output");
    assert!(output.starts_with("SELECT 1 took "), "{output}");
    assert!(
        output.ends_with(" ms, more than the 0 ms threshold"),
        "{output}"
    );
    let response = entry(&json, "postgres:responseTime");
    assert_eq!(
        keys(response),
        set(&[
            "componentType",
            "status",
            "observedValue",
            "observedUnit",
            "output"
        ])
    );
    assert_eq!(response["status"], "warn");
    assert_eq!(response["output"], output);
    assert!(response["observedValue"].as_f64().expect("ms") > 0.0);
    assert_eq!(entry(&json, "postgres:connections")["status"], "pass");

    // The same server under the default threshold passes: the verdict is the threshold's.
    assert_eq!(check(&pool).await.status, HealthStatus::Pass);
    pool.close().await;
}

#[db_test]
async fn a_wrong_password_fails_as_auth_failed(db: TestDb) {
    with_checked_password(db.name(), |urls| async move {
        let right = lazy_pool(&urls.right);
        assert_eq!(check(&right).await.status, HealthStatus::Pass);
        right.close().await;

        let wrong = lazy_pool(&urls.wrong);
        let report = check_with(
            &wrong,
            &HealthOptions::new().timeout(Duration::from_secs(5)),
        )
        .await;
        let max = wrong.options().get_max_connections();
        let output = assert_failed(&report, ErrorCategory::AuthFailed, max);
        assert!(
            output.starts_with("database authentication failed: "),
            "{output}"
        );
        assert!(output.contains("(SQLSTATE 28P01)"), "{output}");
        let everything = format!(
            "{report:?} {}",
            serde_json::to_string(&report).expect("json")
        );
        assert!(
            !everything.contains(urls.wrong_password),
            "password leaked: {everything}"
        );
        wrong.close().await;
    })
    .await;
}

#[db_test]
async fn a_missing_database_fails_as_database_missing(db: TestDb) {
    // The same server and credentials, a database that does not exist.
    let missing = format!("{}_missing", db.name());
    let pool = lazy_pool(&with_params(&url_for(&missing).await, "connection_limit=2"));
    let report = check(&pool).await;
    let output = assert_failed(&report, ErrorCategory::DatabaseMissing, 2);
    assert!(
        output.starts_with("the database does not exist: "),
        "{output}"
    );
    assert!(output.contains(&missing), "{output}");
    assert!(output.contains("(SQLSTATE 3D000)"), "{output}");
    pool.close().await;
}

#[tokio::test]
async fn an_unreachable_host_fails_as_unreachable_not_as_a_timeout() {
    let options = HealthOptions::new().timeout(Duration::from_millis(500));
    // A loopback port nobody listens on: refused, and the pool would keep retrying until its
    // own timeout, which sqlx reports as a pool timeout.
    let port = free_port();
    let pool = lazy_pool(&format!(
        "postgres://app:hunter2@127.0.0.1:{port}/app?connection_limit=2"
    ));
    let report = check_with(&pool, &options).await;
    let output = assert_failed(&report, ErrorCategory::Unreachable, 2);
    assert!(
        output.starts_with("cannot reach the database server: "),
        "{output}"
    );
    assert!(
        !serde_json::to_string(&report)
            .expect("json")
            .contains("hunter2")
    );
    pool.close().await;

    // A host name that does not resolve (`.invalid` never does).
    let pool = lazy_pool("postgres://app:hunter2@persistence-test-host.invalid:5432/app");
    let report = check_with(
        &pool,
        &HealthOptions::new().timeout(Duration::from_secs(10)),
    )
    .await;
    let max = pool.options().get_max_connections();
    assert_failed(&report, ErrorCategory::Unreachable, max);
    pool.close().await;
}
