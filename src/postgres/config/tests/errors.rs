//! Tests of what the configuration refuses, and of what it never shows: the password.

use super::*;

#[test]
fn missing_parts_are_reported() {
    assert_eq!(
        PgConfig::from_url("postgres:///db").expect_err("no host"),
        ConfigError::MissingHost
    );
    assert_eq!(
        PgConfig::from_url("postgres://h").expect_err("no db"),
        ConfigError::MissingDatabase
    );
    assert_eq!(
        PgConfig::from_url("postgres://h/").expect_err("no db"),
        ConfigError::MissingDatabase
    );
    assert_eq!(
        PgConfig::builder().host("h").build().expect_err("no db"),
        ConfigError::MissingDatabase
    );
    assert_eq!(
        PgConfig::builder()
            .database("d")
            .build()
            .expect_err("no host"),
        ConfigError::MissingHost
    );
}

#[test]
fn code_values_are_range_checked() {
    let base = || PgConfig::builder().host("h").database("d");
    let cases: Vec<(PgConfigBuilder, &str)> = vec![
        (
            base().connection_limit(0),
            "invalid connection_limit `0` set in code",
        ),
        (
            base().connection_limit(10_001),
            "invalid connection_limit `10001` set in code",
        ),
        (
            base().pool_timeout(Duration::ZERO),
            "invalid pool_timeout `0ns` set in code",
        ),
        (
            base().connect_timeout(Duration::from_secs(u64::MAX)),
            "invalid connect_timeout",
        ),
        (
            base().statement_timeout(Duration::from_secs(3_000_000)),
            "invalid statement_timeout",
        ),
        (
            base().idle_timeout(Duration::ZERO),
            "invalid max_idle_connection_lifetime",
        ),
        (
            base().max_lifetime(Duration::ZERO),
            "invalid max_connection_lifetime",
        ),
        (
            base().slow_acquire_threshold(Duration::ZERO),
            "invalid slow_acquire_threshold",
        ),
        (
            base().statement_cache_size(10_001),
            "invalid statement_cache_size `10001`",
        ),
        (base().application_name(""), "invalid application_name ``"),
        (base().schema("x".repeat(64)), "invalid schema"),
        (base().port(0), "invalid port `0` set in code"),
        (
            PgConfig::builder().host("h").database(""),
            "invalid database name `` set in code: it is empty",
        ),
        (
            PgConfig::builder().host("h").database("d".repeat(64)),
            "at most 63 bytes",
        ),
        (PgConfig::builder().host("h").database("a\0b"), "NUL"),
    ];
    for (builder, expected) in cases {
        let message = builder.build().expect_err(expected).to_string();
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn combination_errors() {
    let error =
        PgConfig::from_url(&url("?pgbouncer=true&statement_cache_size=50")).expect_err("conflict");
    assert_eq!(
        error.to_string(),
        "pgbouncer=true in the database URL conflicts with statement_cache_size=50 in the \
         database URL: PgBouncer in transaction mode cannot keep prepared statements; remove \
         statement_cache_size or set it to 0"
    );
    let error = PgConfig::from_url_and_env(
        &url("?statement_cache_size=50"),
        env_of(&[("PERSISTENCE_PGBOUNCER", "true")]),
    )
    .expect_err("conflict");
    assert!(
        error
            .to_string()
            .contains("pgbouncer=true in environment variable PERSISTENCE_PGBOUNCER")
    );
    let error = PgConfig::builder()
        .url(url("?pgbouncer=true"))
        .statement_cache_size(5)
        .build()
        .expect_err("conflict");
    assert!(
        error
            .to_string()
            .contains("statement_cache_size=5 set in code")
    );
    // Explicitly 0 is what pgbouncer needs anyway.
    PgConfig::from_url(&url("?pgbouncer=true&statement_cache_size=0")).expect("consistent");

    let error =
        PgConfig::from_url(&url("?sslrootcert=/nonexistent/ca.pem")).expect_err("missing file");
    assert_eq!(
        error.to_string(),
        "sslrootcert file `/nonexistent/ca.pem` in the database URL does not exist; point it at \
         the PEM file of the CA that signed the server's certificate"
    );
    let error = PgConfig::from_url_and_env(
        &url(""),
        env_of(&[("PERSISTENCE_SSLROOTCERT", "/nope.pem")]),
    )
    .expect_err("missing file");
    assert!(
        error
            .to_string()
            .contains("in environment variable PERSISTENCE_SSLROOTCERT")
    );
    let error = PgConfig::builder()
        .url(url(""))
        .ssl_root_cert("/nope.pem")
        .build()
        .expect_err("missing");
    assert!(error.to_string().contains("set in code"));
}

#[test]
fn tls_modes_need_the_tls_feature() {
    let result = PgConfig::from_url(&url("?sslmode=verify-full"));
    if cfg!(feature = "tls") {
        assert_eq!(
            result.expect("tls built in").ssl_mode(),
            Some(SslMode::VerifyFull)
        );
    } else {
        assert_eq!(
            result.expect_err("no tls"),
            ConfigError::TlsUnavailable {
                mode: SslMode::VerifyFull
            }
        );
    }
    let message = ConfigError::TlsUnavailable {
        mode: SslMode::Require,
    }
    .to_string();
    assert!(message.contains("sslmode=require needs TLS"), "{message}");
}

#[test]
fn the_password_never_shows() {
    let config = PgConfig::from_url(&url("?password=ignored")).expect("valid");
    assert_no_password(&config.to_string());
    assert_no_password(&format!("{config:?}"));
    assert_no_password(&format!("{config:#?}"));
    assert_no_password(&config.redacted_url());
    let builder = PgConfig::builder().url(url("")).password(PASSWORD);
    assert_no_password(&format!("{builder:?}"));

    let bad_inputs = [
        url("?connection_limit=abc"),
        url("?sslmode=nope"),
        url("?conection_limit=1"),
        url("?sslpassword=x"),
        format!("mysql://app:{PASSWORD}@h/db"),
        format!("postgres://app:{PASSWORD}@h:99999/db"),
        format!("postgres://app:{PASSWORD}@[h/db"),
        format!("postgres://app:{PASSWORD}@h/a/b"),
        format!("postgres://app:{PASSWORD}@/db"),
        format!("postgres://app:{PASSWORD}@h"),
    ];
    for input in bad_inputs {
        let error = PgConfig::from_url(&input).expect_err(&input);
        assert_no_password(&error.to_string());
        assert_no_password(&format!("{error:?}"));
        let wrapped = crate::postgres::Error::from(error);
        assert_no_password(&wrapped.to_string());
        assert_no_password(&format!("{wrapped:?}"));
    }
}

#[test]
fn query_password_wins_over_url_password_and_is_masked() {
    let config = PgConfig::from_url("postgres://app:one@h/db?password=two").expect("valid");
    assert!(format!("{:?}", config.connect_options()).contains("\"two\""));
    assert_eq!(config.redacted_url(), "postgres://app:***@h/db");
}

#[test]
fn special_characters_survive_the_round_trip_to_sqlx() {
    let config = PgConfig::builder()
        .host("h")
        .username("we%ird:user")
        .password("p@ss:w/rd%41")
        .database("my db%")
        .build()
        .expect("valid");
    let options = config.connect_options();
    assert_eq!(options.get_username(), "we%ird:user");
    assert_eq!(options.get_database(), Some("my db%"));
    assert!(format!("{options:?}").contains("\"p@ss:w/rd%41\""));
    assert_no_password(&config.redacted_url().replace("p%40ss", "masked"));
    assert!(!config.redacted_url().contains("w/rd"));
}

#[test]
fn ipv6_and_default_port() {
    let config = PgConfig::from_url("postgres://[::1]/db").expect("valid");
    assert_eq!(config.endpoint(), "[::1]");
    assert_eq!(config.redacted_url(), "postgres://[::1]/db");
    assert_eq!(config.port(), None);
    let config = PgConfig::from_url("postgres://[::1]:5433/db").expect("valid");
    assert_eq!(config.endpoint(), "[::1]:5433");
}

#[test]
fn hosts_a_url_cannot_express_still_connect_and_redact() {
    let config = PgConfig::builder()
        .host("bad host")
        .username("u")
        .password(PASSWORD)
        .database("db")
        .port(1)
        .build()
        .expect("valid");
    assert_eq!(config.redacted_url(), "postgres://u:***@bad host:1/db");
    let options = config.connect_options();
    assert_eq!(options.get_host(), "bad host");
    assert_eq!(options.get_username(), "u");
    assert_eq!(options.get_port(), 1);
    let config = PgConfig::builder()
        .host("bad host")
        .username("u")
        .database("db")
        .build()
        .expect("valid");
    assert_eq!(config.redacted_url(), "postgres://u@bad host/db");
    let config = PgConfig::builder()
        .host("bad host")
        .database("db")
        .build()
        .expect("valid");
    assert_eq!(config.redacted_url(), "postgres://bad host/db");
    assert!(config.connect_options().get_database() == Some("db"));
}

#[test]
fn with_database_keeps_everything_else() {
    let config = PgConfig::from_url(&url("?connection_limit=3")).expect("valid");
    let other = config.with_database("postgres");
    assert_eq!(other.database(), "postgres");
    assert_eq!(other.connection_limit(), 3);
    assert_eq!(
        other.redacted_url(),
        "postgres://app:***@db.internal:6543/postgres"
    );
}

#[test]
fn quoting_identifiers() {
    assert_eq!(quote_identifier("public"), "\"public\"");
    assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
}

#[test]
fn origins_display() {
    assert_eq!(Origin::Url.to_string(), "in the database URL");
    assert_eq!(Origin::Env("X").to_string(), "in environment variable X");
    assert_eq!(Origin::Code.to_string(), "set in code");
}

#[test]
fn static_error_messages_say_how_to_fix() {
    for error in [
        ConfigError::MissingUrl,
        ConfigError::MissingTarget,
        ConfigError::MissingHost,
        ConfigError::MissingDatabase,
        ConfigError::GlobalAlreadyInitialized,
        ConfigError::NoRuntime("global"),
        ConfigError::DotEnv { reason: "x".into() },
    ] {
        let message = error.to_string();
        assert!(message.len() > 40, "{message}");
    }
}

#[test]
fn a_target_set_in_code_reaches_sqlx() {
    let config = PgConfig::builder()
        .socket("/run/pg")
        .port(5439)
        .username("u")
        .password(PASSWORD)
        .database("d")
        .build()
        .expect("valid");
    let options = config.connect_options();
    assert_eq!(
        options.get_socket().map(|p| p.display().to_string()),
        Some("/run/pg".to_owned())
    );
    assert_eq!(options.get_port(), 5439);
    assert_eq!(options.get_username(), "u");
    assert_eq!(options.get_database(), Some("d"));
}
