//! The harness's containers, to check that a stopped server left none.

use std::process::Command;

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
