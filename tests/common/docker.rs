//! The docker daemon, for the docker backend's tests.

use std::process::{Command, Stdio};

/// Whether a Docker daemon answers here.
pub fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The PostgreSQL image the docker tests use (`PERSISTENCE_TEST_IMAGE`, else the one
/// `ci/build-postgres-image.sh` builds), if a daemon answers and has it.
pub fn local_image() -> Option<String> {
    let image = std::env::var("PERSISTENCE_TEST_IMAGE")
        .unwrap_or_else(|_| "persistence/postgres:15-local".to_owned());
    let present = Command::new("docker")
        .args(["image", "inspect", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    present.then_some(image)
}

/// The harness's containers (by label), running or not.
pub fn harness_containers() -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "label=org.persistence.harness",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
