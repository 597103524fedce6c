//! An unreachable server is named by host and port, by the core and by the CLI, without the
//! password of the URL.

use persistence::postgres::{ErrorCategory, PgConfig, connect_one};

use crate::support::cli::{cli, texts};
use crate::support::schema;
use crate::support::server::free_port;
use crate::support::tempdir::temp_dir;

const PASSWORD: &str = "hunter2secret";

#[test]
fn the_cli_names_the_host_and_port() {
    let dir = temp_dir("unreachable");
    let port = free_port();
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app");
    let source = schema::migrations_arg();
    for args in [
        vec!["migrate", "status", "--source", &source],
        vec!["health"],
    ] {
        let mut all = args.clone();
        all.extend(["--database-url", &url]);
        let output = cli(dir.path(), &all).output().expect("run persistence");
        let (stdout, stderr) = texts(&output);
        let text = format!("{stdout}{stderr}");
        assert!(!output.status.success(), "{args:?}: {text}");
        assert!(
            text.contains(&format!(
                "cannot reach the database server: 127.0.0.1:{port}: "
            )) && text.contains("check the host and port"),
            "{args:?}: {text}"
        );
        assert!(!text.contains(PASSWORD), "{args:?}: {text}");
    }
}

#[test]
fn the_core_names_the_host_and_port() {
    let port = free_port();
    let config = PgConfig::builder()
        .url(format!("postgres://app:{PASSWORD}@localhost:{port}/app"))
        .build()
        .expect("config");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let error = runtime
        .block_on(connect_one(&config))
        .expect_err("nobody listens");
    assert_eq!(error.category(), ErrorCategory::Unreachable);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the database server: localhost:{port}: "
        )),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}
