//! `auto` picks the right backend: external with `TEST_DATABASE_URL`, else docker when a daemon
//! has the image, else native; each case set up through the environment of a child process.

use crate::common::docker::{docker_answers, local_image};
use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

#[test]
fn starts_a_server_scenario() {
    if !scenario_is("start") {
        return;
    }
    let backend = persistence::testing::run::without_database(
        &persistence::testing::TestSpec::new("choice"),
        async {
            let server = persistence::ephemeral::server().await.expect("server");
            Ok::<_, std::convert::Infallible>(server.backend().to_string())
        },
    )
    .expect("infallible");
    println!("BACKEND={backend}");
}

/// Runs the scenario with `env` in a private state directory; returns the backend it got.
fn backend_chosen(env: &[(&str, &str)]) -> String {
    let scratch = temp_dir("choice");
    let state_dir = scratch.path();
    let mut command = child(
        &test_path(module_path!(), "starts_a_server_scenario"),
        "start",
    );
    command
        .env_remove("PERSISTENCE_TEST_BACKEND")
        .env_remove("TEST_DATABASE_URL")
        .env("PERSISTENCE_STATE_DIR", state_dir)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "0");
    for (name, value) in env {
        command.env(name, value);
    }
    let (output, text) = scenario::run(command);
    wait_for_server_to_go(state_dir);
    assert!(output.status.success(), "{text}");
    text.lines()
        .find_map(|l| Some(l.split_once("BACKEND=")?.1.trim().to_owned()))
        .unwrap_or_else(|| panic!("no backend reported: {text}"))
}

#[test]
fn a_url_means_external() {
    // The harness connects to TEST_DATABASE_URL once when it first needs the server (a wrong
    // URL is reported at once): give it one that answers, this run's own server.
    let settings = persistence::ephemeral::Settings::from_env().expect("settings");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(persistence::ephemeral::server())
        .expect("a server");
    let url = match settings.external_url {
        Some(url) if server.backend() == persistence::ephemeral::BackendKind::External => url,
        _ => server.owner_url("postgres"),
    };
    let chosen = backend_chosen(&[("TEST_DATABASE_URL", &url)]);
    assert_eq!(chosen, "external");
}

#[test]
fn no_url_and_no_usable_docker_means_native() {
    let chosen = backend_chosen(&[
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ("PERSISTENCE_TEST_IMAGE", "persistence/never-built:0"),
    ]);
    assert_eq!(chosen, "native");
}

#[test]
fn a_missing_image_that_cannot_be_pulled_means_native() {
    if !docker_answers() {
        eprintln!("no Docker daemon here: the docker cases of auto are not exercised");
        return;
    }
    let chosen = backend_chosen(&[("PERSISTENCE_TEST_IMAGE", "persistence/never-built:0")]);
    assert_eq!(chosen, "native");
}

#[test]
fn a_daemon_with_the_image_means_docker() {
    let Some(image) = local_image() else {
        eprintln!(
            "no Docker daemon or no local image here: the docker case of auto is not exercised"
        );
        return;
    };
    let chosen = backend_chosen(&[("PERSISTENCE_TEST_IMAGE", &image)]);
    assert_eq!(chosen, "docker");
}
