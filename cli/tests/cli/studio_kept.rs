//! The failed-test path: with `PERSISTENCE_TEST_KEEP=failed` the line about a kept database
//! gives a `persistence studio` command; run as printed it opens that database, read-only,
//! and a browser shows the rows the failed test wrote.

use fantoccini::Locator;
use persistence::testing::{TestSpec, run};
use sqlx::PgPool;

use crate::support::browser::Browser;
use crate::support::cli::cli;
use crate::support::kept::{drop_kept, kept_database, write_a_user_then_fail};
use crate::support::scenario::{self, child, scenario_is};
use crate::support::studio::{Studio, table_page};
use crate::support::tempdir::temp_dir;

const EMAIL: &str = "kept-for-studio@example.com";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/cli/migrations");

/// Acted out in a child by the test below; on its own it does nothing, not even take a
/// database: a test that passes drops what its failure kept, and a passing run of this one
/// at the wrong moment would drop the database the test below is about to open.
#[test]
fn writes_then_fails() {
    if !scenario_is("fail") {
        return;
    }
    let spec = TestSpec::new("studio_kept::writes_then_fails").migrator(&MIGRATOR);
    run::database(&spec, |pool: PgPool| async move {
        write_a_user_then_fail(&pool, EMAIL, "Kept For Studio").await;
    });
}

/// The arguments after `persistence studio` in the printed command, as a shell would pass
/// them (single or double quotes, `$TEST_DATABASE_URL` expanded).
fn studio_arguments(line: &str) -> Vec<String> {
    let command = line
        .split_once("persistence studio ")
        .unwrap_or_else(|| panic!("no studio command in: {line}"))
        .1;
    let mut arguments = Vec::new();
    let mut rest = command.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                let end = rest[1..].find(quote).expect("closing quote") + 1;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => rest.split_once(' ').unwrap_or((rest, "")),
        };
        let word = word.replace(
            "$TEST_DATABASE_URL",
            &std::env::var("TEST_DATABASE_URL").unwrap_or_default(),
        );
        arguments.push(word);
        rest = tail.trim_start();
    }
    arguments
}

#[tokio::test(flavor = "multi_thread")]
async fn the_printed_studio_command_opens_the_kept_database() {
    // Hold the harness's server so it outlives the child test.
    let server = persistence::ephemeral::server().await.expect("server");
    let mut command = child("studio_kept::writes_then_fails", "fail");
    command.env("PERSISTENCE_TEST_KEEP", "failed");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("kept the database of this failed test"))
        .unwrap_or_else(|| panic!("no kept line: {text}"));
    assert!(
        line.contains("browse it: persistence studio --database-url "),
        "{line}"
    );
    let arguments = studio_arguments(line);
    let database = kept_database(&text);

    let dir = temp_dir("studio-kept");
    let mut all: Vec<&str> = vec!["studio", "--port", "0"];
    all.extend(arguments.iter().map(String::as_str));
    let studio = Studio::spawn(cli(dir.path(), &all));
    assert!(studio.output().contains(&database), "{}", studio.output());
    assert!(
        studio.output().contains("read-only"),
        "a kept database is read-only"
    );

    let users = studio.get(&table_page("users"));
    assert_eq!(users.status, 200, "{}", users.body);
    assert!(
        users.body.contains(EMAIL),
        "the failed test's row: {}",
        users.body
    );

    // The same in a browser.
    let browser = Browser::start().await;
    browser
        .client
        .goto(&studio.url())
        .await
        .expect("open the studio");
    let users_link = browser
        .client
        .find(Locator::LinkText("users"))
        .await
        .expect("the users table is listed");
    browser.click_to_navigate(users_link, "open users").await;
    let text = browser.text().await;
    assert!(text.contains(EMAIL), "{text}");
    assert!(text.contains("read-only"), "{text}");
    browser.screenshot("kept-database").await;
    browser.close().await;
    drop(studio);

    drop_kept(server.admin_options(), &database).await;
}

#[test]
fn quoted_arguments_are_split_as_a_shell_would() {
    assert_eq!(
        studio_arguments("browse it: persistence studio --database-url 'postgres://p@h:1/d x'"),
        ["--database-url", "postgres://p@h:1/d x"]
    );
}
