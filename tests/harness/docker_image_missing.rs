//! The docker backend with an image the daemon does not have (and cannot pull: no registry
//! answers here, so the pull fails at once) says so once, and names PERSISTENCE_TEST_IMAGE.

use persistence::testing::{TestSpec, run};

use crate::common::docker::docker_answers;
use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::tempdir::temp_dir;

#[test]
fn any_backend_scenario() {
    if scenario_is("docker") {
        run::transaction(&TestSpec::new("any"), |_conn| Box::pin(async {}));
    }
}

#[test]
fn a_missing_image_is_named_with_the_variable_that_sets_it() {
    if !docker_answers() {
        eprintln!("skipped: no Docker daemon answers here");
        return;
    }
    let scratch = temp_dir("no-image");
    let state = scratch.path();
    let image = "persistence/no-such-image:0";
    let mut command = child(&test_path(module_path!(), "any_backend_scenario"), "docker");
    command
        .env("PERSISTENCE_TEST_BACKEND", "docker")
        .env("PERSISTENCE_TEST_IMAGE", image)
        .env("PERSISTENCE_STATE_DIR", state);
    let started = std::time::Instant::now();
    let (output, text) = scenario::run(command);
    eprintln!("the failed start took {:?}", started.elapsed());
    assert!(!output.status.success(), "{text}");
    let prefix = "the test PostgreSQL server did not start:";
    assert_eq!(text.matches(prefix).count(), 1, "one prefix: {text}");
    assert!(
        text.contains(&format!("{prefix} docker could not start {image}: "))
            && text.contains("the image comes from PERSISTENCE_TEST_IMAGE")
            && text.contains(&format!("`docker pull {image}`"))
            && text.contains("ci/build-postgres-image.sh"),
        "{text}"
    );
}
