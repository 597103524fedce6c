//! What the benchmark drivers (`overhead.rs`, `breakdown.rs`, `startup/`) share: building the
//! generated suite, statistics and a description of the machine for their reports.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace member holding the generated tests.
pub const SUITE: &str = "persistence-bench-suite";

/// Builds test targets of the benchmark suite as `cargo test` does and returns each test
/// executable by target name. `targets` narrows the build (e.g. `["--test", "tx_5"]`).
pub fn build_suite(
    cargo: &OsString,
    workspace: &Path,
    targets: &[&str],
) -> Result<HashMap<String, PathBuf>, String> {
    let json = output_of(
        Command::new(cargo)
            .current_dir(workspace)
            .args(["test", "-p", SUITE])
            .args(targets)
            .args(["--no-run", "--message-format=json-render-diagnostics"]),
    )?;
    let mut executables = HashMap::new();
    for line in json.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let is_test = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
        if let (true, Some(name), Some(exe)) = (
            is_test,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            executables.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(executables)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The 1-minute load average, as text.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

pub fn env_number(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| format!("{name}={value}: expected a whole number")),
        _ => Ok(default),
    }
}

/// The suite built for both runners: its test executables, and the two files with which
/// `cargo nextest run` runs them without building again (`--cargo-metadata`,
/// `--binaries-metadata`).
pub struct SuiteBuild {
    /// Where the bench writes its files: `out` (see [`build_suite_for_runners`]) under the
    /// workspace's target directory.
    pub out_dir: PathBuf,
    /// Test executables of the suite, by file name.
    pub executables: HashMap<String, PathBuf>,
    pub cargo_metadata: PathBuf,
    pub binaries_metadata: PathBuf,
}

/// Builds the suite as `cargo test` does and writes, into `<target>/<out>`, the metadata
/// nextest needs to run the same executables.
pub fn build_suite_for_runners(
    cargo: &OsString,
    workspace: &Path,
    out: &str,
) -> Result<SuiteBuild, String> {
    let metadata_json = output_of(Command::new(cargo).current_dir(workspace).args([
        "metadata",
        "--format-version=1",
        "--all-features",
        "--no-deps",
    ]))?;
    let metadata: Value = serde_json::from_str(&metadata_json)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or("cargo metadata has no target_directory")?;
    let out_dir = target_dir.join(out);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let cargo_metadata = out_dir.join("cargo-metadata.json");
    write_file(&cargo_metadata, &metadata_json)?;
    let executables = build_suite(cargo, workspace, &[])?;
    let binaries_metadata = out_dir.join("binaries-metadata.json");
    let binaries = output_of(Command::new(cargo).current_dir(workspace).args([
        "nextest",
        "list",
        "-p",
        SUITE,
        "--list-type",
        "binaries-only",
        "--message-format",
        "json",
    ]))?;
    write_file(&binaries_metadata, &binaries)?;
    Ok(SuiteBuild {
        out_dir,
        executables,
        cargo_metadata,
        binaries_metadata,
    })
}

/// Writes `contents` to `path`, an error naming the path.
pub fn write_file(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs `command` to completion, its stderr shown, and returns its stdout.
pub fn output_of(command: &mut Command) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if !output.status.success() {
        return Err(format!("{command:?} failed ({})", output.status));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("{command:?} printed non-UTF-8 output"))
}

/// Round `round` of a run of `warmup` untimed rounds, then `rounds` timed ones: whether it is
/// timed, and its label for the progress lines.
pub fn round_label(round: usize, warmup: usize, rounds: usize) -> (bool, String) {
    if round >= warmup {
        (true, format!("round {}/{rounds}", round - warmup + 1))
    } else {
        (false, format!("warm-up {}/{warmup}", round + 1))
    }
}

/// The tests of a libtest executable (`--list`).
pub fn list_tests(exe: &Path) -> Result<Vec<String>, String> {
    let listing = output_of(Command::new(exe).args(["--list", "--format", "terse"]))?;
    Ok(listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}

/// The last `count` lines of a run's log, for the error that stops the benchmark.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Runs `command` with stdout and stderr in a new log file at `log_path`, and returns its
/// exit status, the wall time it took and the log's text.
pub fn run_logged(
    command: &mut Command,
    log_path: &Path,
) -> Result<(std::process::ExitStatus, std::time::Duration, String), String> {
    let log = std::fs::File::create(log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;
    command
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let start = std::time::Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let took = start.elapsed();
    let output = std::fs::read_to_string(log_path).unwrap_or_default();
    Ok((status, took, output))
}
