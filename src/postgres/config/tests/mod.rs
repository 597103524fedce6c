//! Tests of the whole configuration flow: URL + environment + builder -> PgConfig -> sqlx.

use std::collections::HashMap;
use std::time::Duration;

use super::*;

mod errors;

const PASSWORD: &str = "hunter2-Secret";

fn url(params: &str) -> String {
    format!("postgres://app:{PASSWORD}@db.internal:6543/app_db{params}")
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn assert_no_password(text: &str) {
    assert!(!text.contains(PASSWORD), "password leaked: {text}");
    assert!(!text.contains("hunter2"), "password leaked: {text}");
}

#[test]
fn defaults() {
    let config = PgConfig::from_url(&url("")).expect("valid");
    assert_eq!(config.host(), &Host::Tcp("db.internal".into()));
    assert_eq!(config.port(), Some(6543));
    assert_eq!(config.username(), Some("app"));
    assert!(config.has_password());
    assert_eq!(config.database(), "app_db");
    assert_eq!(config.connection_limit(), layer::default_connection_limit());
    assert_eq!(config.pool_timeout(), Some(Duration::from_secs(10)));
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(config.statement_timeout(), None);
    assert_eq!(config.idle_timeout(), Some(Duration::from_secs(300)));
    assert_eq!(config.max_lifetime(), Some(Duration::from_secs(1800)));
    assert!(!config.pgbouncer());
    assert_eq!(config.statement_cache_size(), 100);
    assert_eq!(config.ssl_mode(), None);
    assert_eq!(config.ssl_root_cert(), None);
    assert_eq!(config.application_name(), None);
    assert_eq!(config.schema(), None);
    assert_eq!(
        config.slow_acquire_threshold(),
        Some(Duration::from_secs(1))
    );
    assert!(config.test_before_acquire());
    assert!(config.startup_parameters().is_empty());
}

#[test]
fn every_url_parameter() {
    let ca = std::env::temp_dir().join("persistence-config-test-ca.pem");
    std::fs::write(&ca, "not really a certificate").expect("write temp file");
    // sslmode=require needs the `tls` feature (a build without it refuses the URL, see
    // `tls_modes_need_the_tls_feature`); `prefer` maps the same way without it.
    let (mode, sqlx_mode) = if cfg!(feature = "tls") {
        (SslMode::Require, sqlx::postgres::PgSslMode::Require)
    } else {
        (SslMode::Prefer, sqlx::postgres::PgSslMode::Prefer)
    };
    let config = PgConfig::from_url(&url(&format!(
        "?connection_limit=7&pool_timeout=0&connect_timeout=3&statement_timeout=1500ms\
         &max_idle_connection_lifetime=60&max_connection_lifetime=0&pgbouncer=true\
         &sslmode={mode}&sslrootcert={}&application_name=billing&schema=Tenant%20One\
         &slow_acquire_threshold=250ms",
        ca.display()
    )))
    .expect("valid");
    assert_eq!(config.connection_limit(), 7);
    assert_eq!(config.pool_timeout(), None);
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(
        config.statement_timeout(),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(config.idle_timeout(), Some(Duration::from_secs(60)));
    assert_eq!(config.max_lifetime(), None);
    assert!(config.pgbouncer());
    assert_eq!(config.statement_cache_size(), 0);
    assert_eq!(config.ssl_mode(), Some(mode));
    assert_eq!(config.ssl_root_cert(), Some(ca.as_path()));
    assert_eq!(config.application_name(), Some("billing"));
    assert_eq!(config.schema(), Some("Tenant One"));
    assert_eq!(
        config.slow_acquire_threshold(),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        config.startup_parameters(),
        vec![
            ("statement_timeout", "1500".to_owned()),
            ("search_path", "\"Tenant One\"".to_owned()),
        ]
    );
    // Stripped: none of our parameters reach sqlx's URL.
    assert_eq!(
        config.redacted_url(),
        "postgres://app:***@db.internal:6543/app_db"
    );

    let options = config.connect_options();
    assert_eq!(options.get_host(), "db.internal");
    assert_eq!(options.get_port(), 6543);
    assert_eq!(options.get_username(), "app");
    assert_eq!(options.get_database(), Some("app_db"));
    assert_eq!(options.get_application_name(), Some("billing"));
    assert_eq!(
        std::mem::discriminant(&options.get_ssl_mode()),
        std::mem::discriminant(&sqlx_mode)
    );
    assert_eq!(
        options.get_options(),
        Some("-c statement_timeout=1500 -c search_path=\"Tenant\\ One\"")
    );
    let debug = format!("{options:?}");
    assert!(debug.contains("statement_cache_capacity: 0"), "{debug}");
    assert!(debug.contains(PASSWORD), "sqlx must get the password");

    let pool = config.pool_options();
    assert_eq!(pool.get_max_connections(), 7);
    assert_eq!(pool.get_min_connections(), 0);
    assert_eq!(pool.get_acquire_timeout(), WAIT_FOREVER);
    assert_eq!(pool.get_idle_timeout(), Some(Duration::from_secs(60)));
    assert_eq!(pool.get_max_lifetime(), None);
    assert!(pool.get_test_before_acquire());
    assert_eq!(
        pool.get_acquire_slow_threshold(),
        Duration::from_millis(250)
    );
    std::fs::remove_file(&ca).ok();
}

#[test]
fn pool_options_map_the_defaults() {
    let config = PgConfig::from_url(&url("?slow_acquire_threshold=0")).expect("valid");
    let pool = config.pool_options();
    assert_eq!(pool.get_max_connections(), config.connection_limit());
    assert_eq!(pool.get_acquire_timeout(), Duration::from_secs(10));
    assert_eq!(pool.get_idle_timeout(), Some(Duration::from_secs(300)));
    assert_eq!(pool.get_max_lifetime(), Some(Duration::from_secs(1800)));
    assert_eq!(pool.get_acquire_slow_threshold(), Duration::MAX);
    let options = config.connect_options();
    assert_eq!(options.get_options(), None);
    assert!(format!("{options:?}").contains("statement_cache_capacity: 100"));
}

#[test]
fn precedence_is_builder_then_env_then_url_then_default() {
    let env = env_of(&[
        ("PERSISTENCE_CONNECTION_LIMIT", "5"),
        ("PERSISTENCE_POOL_TIMEOUT", "20"),
        ("PERSISTENCE_SCHEMA", "from_env"),
    ]);
    let config = PgConfig::builder()
        .url(url("?connection_limit=9&pool_timeout=30&schema=from_url&application_name=from_url&connect_timeout=7"))
        .env_source(env)
        .connection_limit(2)
        .build()
        .expect("valid");
    assert_eq!(config.connection_limit(), 2, "builder beats env and URL");
    assert_eq!(
        config.pool_timeout(),
        Some(Duration::from_secs(20)),
        "env beats URL"
    );
    assert_eq!(config.schema(), Some("from_env"), "env beats URL");
    assert_eq!(
        config.application_name(),
        Some("from_url"),
        "URL beats default"
    );
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(7)));
    assert_eq!(
        config.idle_timeout(),
        Some(Duration::from_secs(300)),
        "default"
    );
}

#[test]
fn every_parameter_can_come_from_the_environment() {
    let env = env_of(&[
        ("PERSISTENCE_CONNECTION_LIMIT", "11"),
        ("PERSISTENCE_POOL_TIMEOUT", "0"),
        ("PERSISTENCE_CONNECT_TIMEOUT", "2"),
        ("PERSISTENCE_SOCKET_TIMEOUT", "4"),
        ("PERSISTENCE_MAX_IDLE_CONNECTION_LIFETIME", "1min"),
        ("PERSISTENCE_MAX_CONNECTION_LIFETIME", "1h"),
        ("PERSISTENCE_PGBOUNCER", "false"),
        ("PERSISTENCE_STATEMENT_CACHE_SIZE", "5"),
        ("PERSISTENCE_SSLMODE", "disable"),
        ("PERSISTENCE_APPLICATION_NAME", "env-app"),
        ("PERSISTENCE_SCHEMA", "env_schema"),
        ("PERSISTENCE_SLOW_ACQUIRE_THRESHOLD", "3s"),
    ]);
    let config = PgConfig::from_url_and_env(&url(""), env).expect("valid");
    assert_eq!(config.connection_limit(), 11);
    assert_eq!(config.pool_timeout(), None);
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(config.statement_timeout(), Some(Duration::from_secs(4)));
    assert_eq!(config.idle_timeout(), Some(Duration::from_secs(60)));
    assert_eq!(config.max_lifetime(), Some(Duration::from_secs(3600)));
    assert!(!config.pgbouncer());
    assert_eq!(config.statement_cache_size(), 5);
    assert_eq!(config.ssl_mode(), Some(SslMode::Disable));
    assert_eq!(config.application_name(), Some("env-app"));
    assert_eq!(config.schema(), Some("env_schema"));
    assert_eq!(
        config.slow_acquire_threshold(),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn every_parameter_can_be_set_in_code() {
    let ca = std::env::temp_dir().join("persistence-config-test-ca-code.pem");
    std::fs::write(&ca, "x").expect("write temp file");
    let config = PgConfig::builder()
        .socket("/var/run/postgresql")
        .port(5433)
        .username("svc")
        .password(PASSWORD)
        .database("svc_db")
        .connection_limit(3)
        .pool_timeout(None)
        .connect_timeout(Duration::from_secs(1))
        .statement_timeout(Duration::from_secs(2))
        .idle_timeout(None)
        .max_lifetime(Duration::from_secs(60))
        .pgbouncer(false)
        .statement_cache_size(10)
        .ssl_mode(SslMode::Prefer)
        .ssl_root_cert(&ca)
        .application_name("svc")
        .schema("svc")
        .slow_acquire_threshold(None)
        .test_before_acquire(false)
        .build()
        .expect("valid");
    assert_eq!(config.host(), &Host::Socket("/var/run/postgresql".into()));
    assert_eq!(config.port(), Some(5433));
    assert_eq!(config.connection_limit(), 3);
    assert_eq!(config.pool_timeout(), None);
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(1)));
    assert_eq!(config.statement_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(config.idle_timeout(), None);
    assert_eq!(config.max_lifetime(), Some(Duration::from_secs(60)));
    assert_eq!(config.statement_cache_size(), 10);
    assert_eq!(config.ssl_mode(), Some(SslMode::Prefer));
    assert_eq!(config.slow_acquire_threshold(), None);
    assert!(!config.test_before_acquire());
    assert_eq!(
        config.redacted_url(),
        "postgres://svc:***@localhost:5433/svc_db?host=%2Fvar%2Frun%2Fpostgresql"
    );
    assert_eq!(config.endpoint(), "/var/run/postgresql:5433");
    let options = config.connect_options();
    assert_eq!(
        options
            .get_socket()
            .map(|p| p.to_string_lossy().into_owned()),
        Some("/var/run/postgresql".to_owned())
    );
    assert_eq!(options.get_port(), 5433);
    assert_eq!(options.get_username(), "svc");
    assert!(!config.pool_options().get_test_before_acquire());
    std::fs::remove_file(&ca).ok();
}

#[test]
fn builder_target_overrides_the_url_target() {
    let config = PgConfig::builder()
        .url(url("?sslcert=/c.pem"))
        .host("other.internal")
        .database("other_db")
        .build()
        .expect("valid");
    assert_eq!(config.host(), &Host::Tcp("other.internal".into()));
    assert_eq!(config.database(), "other_db");
    assert_eq!(config.port(), Some(6543));
    assert_eq!(config.username(), Some("app"));
    assert_eq!(
        config.redacted_url(),
        "postgres://app:***@other.internal:6543/other_db?sslcert=%2Fc.pem"
    );
}

#[test]
fn database_url_comes_from_the_environment_when_no_url_is_given() {
    let env = env_of(&[("DATABASE_URL", &url("?connection_limit=4"))]);
    let config = PgConfig::builder().env_source(env).build().expect("valid");
    assert_eq!(config.database(), "app_db");
    assert_eq!(config.connection_limit(), 4);

    let error = PgConfig::builder()
        .env_source(env_of(&[]))
        .build()
        .expect_err("no URL");
    assert_eq!(error, ConfigError::MissingUrl);
    let error = PgConfig::builder()
        .env_source(env_of(&[("DATABASE_URL", " ")]))
        .build()
        .expect_err("blank");
    assert_eq!(error, ConfigError::MissingUrl);
    let error = PgConfig::builder().build().expect_err("nothing");
    assert_eq!(error, ConfigError::MissingTarget);

    // A host and database in code need no URL, even when the environment is read.
    let config = PgConfig::builder()
        .env_source(env_of(&[("DATABASE_URL", "not a url")]))
        .host("localhost")
        .database("db")
        .build()
        .expect("valid");
    assert_eq!(config.redacted_url(), "postgres://localhost/db");
}

#[test]
fn from_env_reads_the_process_environment() {
    // The process environment of the test runner has no PERSISTENCE_* variables set by us;
    // whether DATABASE_URL is set depends on the machine, so only check the error's kind.
    match PgConfig::from_env() {
        Ok(config) => assert!(!config.database().is_empty()),
        Err(error) => assert!(matches!(
            error,
            ConfigError::MissingUrl
                | ConfigError::InvalidUrl { .. }
                | ConfigError::InvalidValue { .. }
        )),
    }
}
