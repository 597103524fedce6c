//! Where the time of a test goes, step by step: the harness's own record of each test's steps
//! (`PERSISTENCE_TEST_TIMINGS`, see `src/testing/timings.rs`), over whole runs of files of the
//! generated suite (`benches/suite`, as `overhead.rs` runs them). `docs/measurements.md`
//! ("Where a nextest process's time goes") shows the figures.
//!
//! ```text
//! cargo bench --bench breakdown                         # nextest, 3 timed rounds, 1 warm-up
//! BENCH_ROUNDS=5 BENCH_RUNNER=cargo-test cargo bench --bench breakdown
//! BENCH_FILES=tx_5,db_fx_5 cargo bench --bench breakdown
//! ```
//!
//! `BENCH_BINARIES_METADATA=<file>` (nextest only) runs test binaries built earlier, listed in
//! a `cargo nextest list --list-type binaries-only --message-format json` file whose paths
//! point at copies of them: the figures of the code before a change, measured beside the
//! code after it in one quiet window.
//!
//! Tests run one at a time (`BENCH_JOBS`, default 1, is the runner's `--test-threads`): a
//! process's steps then add up to its wall time, and the run's wall time per test is one
//! process's, start to exit.
//!
//! Per file (`BENCH_FILES`, default `tx_5,db_5,db_fx_5`) and timed round, the file's 100 tests
//! run under the runner (`BENCH_RUNNER`: `nextest`, the default, one process per test; or
//! `cargo-test`); each test appends a line with its steps' durations. The table gives, per
//! step, the median over every test of the timed rounds, and the median of their sum (the
//! test's time inside the harness's entry point). Beside it, measured from outside as
//! `overhead.rs` does, the wall time per test of the run above the `nodb` file's: the part
//! that the steps do not cover is the process's start and exit beyond a test without a
//! database (libtest, the harness's constructor, the dynamic loader: larger binaries).

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::Value;

use common::{
    SUITE, SuiteBuild, build_suite_for_runners, env_number, load_average, median, round_label,
    write_file,
};

fn main() -> ExitCode {
    // This executable may be re-run as the server's supervisor.
    persistence::ephemeral::supervisor::run_if_requested();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("breakdown: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Runner {
    CargoTest,
    Nextest,
}

fn run() -> Result<(), String> {
    let rounds = env_number("BENCH_ROUNDS", 3)?.max(1);
    // One test at a time by default: the steps of a process then add up to its wall time,
    // which no other test process shares.
    let jobs = env_number("BENCH_JOBS", 1)?.max(1);
    let warmup = env_number("BENCH_WARMUP", 1)?;
    let runner = match std::env::var("BENCH_RUNNER").as_deref() {
        Err(_) | Ok("" | "nextest") => Runner::Nextest,
        Ok("cargo-test") => Runner::CargoTest,
        Ok(other) => {
            return Err(format!(
                "BENCH_RUNNER={other}: expected nextest or cargo-test"
            ));
        }
    };
    let files_var = std::env::var("BENCH_FILES").unwrap_or_default();
    let files: Vec<String> = if files_var.trim().is_empty() {
        ["tx_5", "db_5", "db_fx_5"].map(str::to_owned).to_vec()
    } else {
        files_var.split(',').map(|f| f.trim().to_owned()).collect()
    };
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    eprintln!("breakdown: building {SUITE} (dev profile)");
    let SuiteBuild {
        out_dir,
        executables,
        cargo_metadata,
        binaries_metadata,
    } = build_suite_for_runners(&cargo, &workspace, "persistence-bench/breakdown")?;
    // Test binaries built earlier (e.g. before a change), listed in a binaries-metadata file
    // of their own: nextest runs them instead of the ones just built.
    let binaries_metadata = match std::env::var_os("BENCH_BINARIES_METADATA") {
        Some(saved) if runner == Runner::Nextest => PathBuf::from(saved),
        _ => binaries_metadata,
    };

    // Held for the whole run, as in `overhead.rs`: every timed process joins a running server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let server = runtime
        .block_on(persistence::ephemeral::server())
        .map_err(|e| format!("no test server: {e}"))?;
    eprintln!(
        "breakdown: server {} ({})",
        server.display_url("postgres"),
        server.backend()
    );

    let all: Vec<&str> = std::iter::once("nodb")
        .chain(files.iter().map(String::as_str))
        .collect();
    let mut counts: HashMap<&str, f64> = HashMap::new();
    for &file in &all {
        let exe = executables
            .get(file)
            .ok_or_else(|| format!("no test executable `{file}` in {SUITE}"))?;
        counts.insert(file, common::list_tests(exe)?.len() as f64);
    }
    // Per file: the steps of every test of the timed rounds, and each round's wall time.
    let mut steps: HashMap<&str, Vec<Vec<(String, f64)>>> = HashMap::new();
    let mut walls: HashMap<&str, Vec<f64>> = HashMap::new();
    let load_before = load_average();
    for round in 0..warmup + rounds {
        let (timed, label) = round_label(round, warmup, rounds);
        let mut order = all.clone();
        order.rotate_left(round % all.len());
        for &file in &order {
            let timings = out_dir.join(format!("{file}-{round}.jsonl"));
            let _ = std::fs::remove_file(&timings);
            let log = out_dir.join(format!("{file}-{round}.log"));
            let mut command = match runner {
                Runner::CargoTest => {
                    let exe = executables
                        .get(file)
                        .ok_or_else(|| format!("no test executable `{file}` in {SUITE}"))?;
                    let suite_dir = workspace.join("benches/suite");
                    let mut command = Command::new(exe);
                    command
                        .current_dir(&suite_dir)
                        .env("CARGO_MANIFEST_DIR", &suite_dir)
                        .arg(format!("--test-threads={jobs}"));
                    command
                }
                Runner::Nextest => {
                    let mut command = Command::new(&cargo);
                    command
                        .current_dir(&workspace)
                        .args(["nextest", "run", "--binaries-metadata"])
                        .arg(&binaries_metadata)
                        .arg("--cargo-metadata")
                        .arg(&cargo_metadata)
                        .args(["-E", &format!("binary_id(={SUITE}::{file})")])
                        .arg(format!("--test-threads={jobs}"));
                    command
                }
            };
            command.env("PERSISTENCE_TEST_TIMINGS", &timings);
            let (status, took, output) = common::run_logged(&mut command, &log)?;
            if !status.success() {
                return Err(format!(
                    "{file} failed ({status}); log {}:\n{}",
                    log.display(),
                    common::last_lines(&output, 40)
                ));
            }
            eprintln!(
                "breakdown: {label}: {file:<8} {:>7.2} s",
                took.as_secs_f64()
            );
            if timed {
                walls.entry(file).or_default().push(took.as_secs_f64());
                // `nodb`'s tests do not go through the harness: no line.
                if file != "nodb" {
                    steps.entry(file).or_default().extend(read_lines(&timings)?);
                }
            }
        }
    }
    let load = format!(
        "load average {load_before} before, {} after",
        load_average()
    );
    let runner_name = match runner {
        Runner::Nextest => "nextest",
        Runner::CargoTest => "cargo-test",
    };
    let header = format!(
        "\n## Where a test's time goes ({runner_name}), ms, median over every test\n\n\
         Command: `BENCH_RUNNER={runner_name} BENCH_JOBS={jobs} BENCH_ROUNDS={rounds} BENCH_WARMUP={warmup} \
         BENCH_FILES={} cargo bench --bench breakdown`; {load}\n",
        files.join(",")
    );
    let report = report(&header, &files, &steps, &walls, &counts);
    print!("{report}");
    let path = out_dir.join("report.md");
    write_file(&path, &report)?;
    eprintln!("breakdown: report also written to {}", path.display());
    Ok(())
}

/// The steps of each test in a timings file: (step, milliseconds).
fn read_lines(path: &Path) -> Result<Vec<Vec<(String, f64)>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("no timings in {}: {e}", path.display()))?;
    let mut tests = Vec::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line)
            .map_err(|e| format!("a bad line in {}: {e}", path.display()))?;
        let steps = value["steps"]
            .as_array()
            .ok_or_else(|| format!("a line without steps in {}", path.display()))?
            .iter()
            .filter_map(|step| Some((step[0].as_str()?.to_owned(), step[1].as_f64()? / 1e3)))
            .collect();
        tests.push(steps);
    }
    Ok(tests)
}

fn report(
    header: &str,
    files: &[String],
    steps: &HashMap<&str, Vec<Vec<(String, f64)>>>,
    walls: &HashMap<&str, Vec<f64>>,
    counts: &HashMap<&str, f64>,
) -> String {
    let per_test_wall = |file: &str| median(walls[file].clone()) / counts[file] * 1e3;
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    // Steps in the order they first appear in each file.
    let mut order: Vec<String> = Vec::new();
    for file in files {
        for test in &steps[file.as_str()] {
            for (step, _) in test {
                if !order.contains(step) {
                    order.push(step.clone());
                }
            }
        }
    }
    let _ = write!(out, "| step |");
    for file in files {
        let _ = write!(out, " {file} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in files {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out);
    for step in &order {
        let _ = write!(out, "| {step} |");
        for file in files {
            let values: Vec<f64> = steps[file.as_str()]
                .iter()
                .filter_map(|test| test.iter().find(|(s, _)| s == step).map(|(_, ms)| *ms))
                .collect();
            if values.is_empty() {
                let _ = write!(out, " - |");
            } else {
                let _ = write!(out, " {:.3} |", median(values));
            }
        }
        let _ = writeln!(out);
    }
    let row = |out: &mut String, label: &str, value: &dyn Fn(&str) -> f64| {
        let _ = write!(out, "| {label} |");
        for file in files {
            let _ = write!(out, " {:.3} |", value(file));
        }
        let _ = writeln!(out);
    };
    // The time from the entry point's start to its end (the process's start not counted:
    // the wall time below has it).
    let inside = |file: &str| {
        median(
            steps[file]
                .iter()
                .map(|test| {
                    test.iter()
                        .filter(|(s, _)| s != "process start to test entry")
                        .map(|(_, ms)| ms)
                        .sum()
                })
                .collect(),
        )
    };
    row(&mut out, "**in the entry point (sum)**", &inside);
    row(&mut out, "wall time per test (run / tests)", &|file| {
        per_test_wall(file)
    });
    row(&mut out, "**above `nodb` (as overhead.rs)**", &|file| {
        per_test_wall(file) - per_test_wall("nodb")
    });
    row(&mut out, "above `nodb`, not in the entry point", &|file| {
        per_test_wall(file) - per_test_wall("nodb") - inside(file)
    });
    let _ = writeln!(
        out,
        "\n`nodb`: {:.3} ms per test (a process without a database, start to exit, with \
         nextest's own work).",
        per_test_wall("nodb")
    );
    out
}
