//! A wrong `TEST_DATABASE_URL` is reported at once, naming the variable and the URL as set
//! (password hidden): a port nobody listens on says the server at host:port is unreachable;
//! a database that does not exist is named as the URL names it, not as `/postgres`.

use std::time::{Duration, Instant};

use persistence::ephemeral::{BackendKind, Settings};
use persistence::testing::{TestSpec, run};

use crate::common::scenario::{self, child, scenario_is, test_path};

const PASSWORD: &str = "hunter2secret";

#[test]
fn any_backend_scenario() {
    if scenario_is("external") {
        run::transaction(&TestSpec::new("any"), |_conn| Box::pin(async {}));
    }
}

/// Runs one test with `TEST_DATABASE_URL=url`; its output and how long it took.
fn with_url(url: &str) -> (String, Duration) {
    let mut command = child(
        &test_path(module_path!(), "any_backend_scenario"),
        "external",
    );
    command
        .env("PERSISTENCE_TEST_BACKEND", "external")
        .env("TEST_DATABASE_URL", url);
    let started = Instant::now();
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    (text, started.elapsed())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

#[test]
fn a_wrong_port_is_unreachable_at_once_naming_the_variable_host_and_port() {
    let port = free_port();
    let (text, took) = with_url(&format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app"));
    assert!(
        text.contains(&format!(
            "TEST_DATABASE_URL (postgres://app:***@127.0.0.1:{port}/app) cannot be reached: \
             nothing answers at 127.0.0.1:{port} ("
        )),
        "{text}"
    );
    assert!(!text.contains("persistence_tx_"), "{text}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {text}");
}

#[test]
fn a_missing_database_is_named_as_the_url_names_it() {
    // A server that answers: the one of this run (its own URL when it is external).
    let settings = Settings::from_env().expect("settings");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(persistence::ephemeral::server())
        .expect("a server");
    let mut url = match (server.backend(), &settings.external_url) {
        (BackendKind::External, Some(url)) => url::Url::parse(url).expect("a URL"),
        _ => url::Url::parse(&server.owner_url("x")).expect("a URL"),
    };
    url.set_path("/persistence_no_such_db");
    if url.password().is_none() {
        // The harness's own servers have a password; this is for a URL without one.
        url.set_password(Some(PASSWORD)).expect("a password");
    }
    let password = url.password().unwrap_or_default().to_owned();
    let shown = url.as_str().replace(&format!(":{password}@"), ":***@");
    let (text, _) = with_url(url.as_str());
    assert!(!text.contains(&format!(":{password}@")), "{text}");
    let (host, port) = (
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(5432),
    );
    assert!(
        text.contains(&format!(
            "TEST_DATABASE_URL ({shown}) names the database `persistence_no_such_db`, which does \
             not exist on the server at {host}:{port}"
        )),
        "{text}"
    );
    assert!(!text.contains("/postgres "), "{text}");
}
