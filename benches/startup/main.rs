//! How long a test waits for its server: cold start and join, measured;
//! `docs/measurements.md` ("Measured") shows the figures. Targets: cold start native <= 1.5 s, docker <= 4 s,
//! join <= 15 ms.
//!
//! ```text
//! cargo bench --bench startup                   # 5 timed rounds after 1 warm-up round
//! BENCH_ROUNDS=3 BENCH_JOINS=10 BENCH_BACKENDS=native cargo bench --bench startup
//! ```
//!
//! This is a driver, not a benchmark harness (`harness = false`). It runs single tests of the
//! generated suite in `benches/suite` (the workspace member `persistence-bench-suite`, see
//! `benches/overhead.rs`): the first test of `tx_5` (a transaction-mode `#[db_test]` on 5
//! migrations that inserts one row) and, as the baseline, the same test of `nodb` (a plain
//! `#[test]`: what starting a test process costs without a database). Every number is the wall
//! time of one whole test process (`<exe> --exact m0::t0`, run as `cargo test` would) minus the
//! baseline of the same round.
//!
//! Every server lives in a private state directory (`PERSISTENCE_STATE_DIR`, under
//! `target/persistence-bench/`), with `PERSISTENCE_TEST_BACKEND` set, `PERSISTENCE_TEST_IMAGE`
//! (default `persistence/postgres:15-local`, built by `ci/build-postgres-image.sh`) and
//! `PERSISTENCE_TEST_IDLE_GRACE=0`, so the server goes as soon as its last user has. Per backend
//! (`BENCH_BACKENDS`, default `native,docker`) and round, in an order that rotates every round:
//!
//! - **first-ever cold start**: an empty state directory, so no server and, for native, no
//!   cached pristine cluster (initdb runs); one `tx_5` process starts the server, builds the
//!   template (5 migrations) and runs its test.
//! - **cold start, cached cluster** (native only; docker's image is always local): the same, but
//!   the `pristine-*` cluster built by the warm-up is copied into the state directory first, as
//!   on a developer machine after its first run.
//! - **join**: this process starts a server itself (`persistence::ephemeral::server_with`, timed:
//!   the *server start alone*, without template or test process) and holds it; one `tx_5`
//!   process builds the template (timed apart); then `BENCH_JOINS` (default 20) `tx_5` and `nodb`
//!   processes alternate. Join = median `tx_5` - median `nodb`: what a process pays to join a
//!   running server (two flocks, a small JSON file), open one connection to the working database
//!   and run the test's BEGIN, INSERT, SET CONSTRAINTS and ROLLBACK. The join alone cannot be
//!   separated from outside the process.
//!
//! After every cold start the driver waits until the server has gone (no server recorded in
//! the state directory, the supervisor process ended, the native instance directory deleted,
//! the container removed, as the state directory's `starts.log` records them) and removes the
//! state directory; it checks each run started exactly one server (`starts.log`) and the join
//! runs none. The table shows, per backend, the
//! median over the timed rounds (`BENCH_ROUNDS`, default 5; `BENCH_WARMUP`, default 1, are not
//! counted) and the range. At the end it checks and reports that nothing is left behind. The
//! output of the last run of each kind is kept in `target/persistence-bench/logs/`.
//!
//! The driver is this file; `scenarios` runs and times the cold starts and joins, `servers`
//! follows the servers they started through the state directory's API, `report` writes the
//! tables.

#[path = "../common/mod.rs"]
mod common;
mod report;
mod scenarios;
mod servers;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use serde_json::Value;

use common::{SUITE, build_suite, env_number, list_tests, output_of};
use scenarios::{Backend, Setup, measure};
use servers::{Started, leftovers};

/// The transaction-mode file whose first test is run.
const TX_FILE: &str = "tx_5";
/// The baseline file: the same test names, without a database.
const BASELINE: &str = "nodb";
/// The image of the docker backend unless `PERSISTENCE_TEST_IMAGE` says otherwise.
const LOCAL_IMAGE: &str = "persistence/postgres:15-local";

fn main() -> ExitCode {
    // Also done by the `testing` feature's constructor: this executable is re-run as the
    // supervisor of the servers it holds.
    persistence::ephemeral::supervisor::run_if_requested();
    let mut started = Started::default();
    let result = run(&mut started);
    let leftovers = leftovers(&started);
    match result {
        Ok(report) => {
            let mut report = report;
            let _ = writeln!(report, "\nLeft behind: {leftovers}");
            print!("{report}");
            if let Some(out_dir) = &started.out_dir {
                let path = out_dir.join("startup-report.md");
                let _ = std::fs::write(&path, &report);
                eprintln!("startup: report also written to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("startup: {err}\nstartup: left behind: {leftovers}");
            ExitCode::FAILURE
        }
    }
}

fn run(started: &mut Started) -> Result<String, String> {
    let began = Instant::now();
    let rounds = env_number("BENCH_ROUNDS", 5)?.max(1);
    let warmup = env_number("BENCH_WARMUP", 1)?;
    let joins = env_number("BENCH_JOINS", 20)?.max(1);
    let backends = env_backends()?;
    let image = std::env::var("PERSISTENCE_TEST_IMAGE")
        .ok()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| LOCAL_IMAGE.to_owned());
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    if backends.contains(&Backend::Docker) {
        output_of(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", &image]))
            .map_err(|e| {
                format!("{e}: image {image} is not present (build it: ci/build-postgres-image.sh)")
            })?;
    }

    eprintln!("startup: building {SUITE} ({TX_FILE}, {BASELINE}; dev profile, as cargo test)");
    let target_dir = target_dir(&cargo, &workspace)?;
    let out_dir = target_dir.join("persistence-bench");
    let logs = out_dir.join("logs");
    started.out_dir = Some(out_dir.clone());
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let executables = build_suite(&cargo, &workspace, &["--test", TX_FILE, "--test", BASELINE])?;
    let exe = |file: &str| {
        executables
            .get(file)
            .cloned()
            .ok_or_else(|| format!("no test executable `{file}` in {SUITE}"))
    };
    let tx_exe = exe(TX_FILE)?;
    let nodb_exe = exe(BASELINE)?;
    let test = first_test(&tx_exe)?;
    if !list_tests(&nodb_exe)?.contains(&test) {
        return Err(format!(
            "{BASELINE} has no test `{test}` (as {TX_FILE} has)"
        ));
    }

    let scratch = out_dir.join(format!("startup-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    started.scratch = Some(scratch.clone());
    // The server this process starts for the joins (run as root) finds its pristine cluster
    // in the temporary directory of the state directory the warm-up builds it in
    // (`scenarios::measure`'s `pristine-source`, whose test runs with that TMPDIR).
    let tmp = scratch.join("pristine-source").join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    // SAFETY: no other thread runs yet: the runtimes and the test processes come later.
    unsafe { std::env::set_var("TMPDIR", &tmp) };
    let setup = Setup {
        suite_dir: workspace.join("benches/suite"),
        logs,
        scratch,
        tx_exe,
        nodb_exe,
        test,
        image,
        joins,
    };
    let measured = measure(&setup, &backends, rounds, warmup, started);
    let removed = std::fs::remove_dir_all(&setup.scratch)
        .map_err(|e| format!("cannot remove {}: {e}", setup.scratch.display()));
    let (values, load) = measured?;
    removed?;
    Ok(report::report(
        &setup,
        &backends,
        &values,
        rounds,
        warmup,
        started,
        began.elapsed(),
        &load,
    ))
}

/// The target directory, from `cargo metadata`.
fn target_dir(cargo: &OsString, workspace: &Path) -> Result<PathBuf, String> {
    let json = output_of(Command::new(cargo).current_dir(workspace).args([
        "metadata",
        "--format-version=1",
        "--no-deps",
    ]))?;
    let metadata: Value =
        serde_json::from_str(&json).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_owned())
}

/// `m0::t0` if there is one, else the first test listed.
fn first_test(exe: &Path) -> Result<String, String> {
    let tests = list_tests(exe)?;
    if tests.iter().any(|t| t == "m0::t0") {
        return Ok("m0::t0".to_owned());
    }
    let mut tests = tests;
    tests.sort();
    tests
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} lists no test", exe.display()))
}

/// `BENCH_BACKENDS`: a comma-separated subset of `native,docker` (the default).
fn env_backends() -> Result<Vec<Backend>, String> {
    let value = std::env::var("BENCH_BACKENDS").unwrap_or_default();
    if value.trim().is_empty() {
        return Ok(vec![Backend::Native, Backend::Docker]);
    }
    let mut backends = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let backend = match name {
            "native" => Backend::Native,
            "docker" => Backend::Docker,
            _ => {
                return Err(format!(
                    "BENCH_BACKENDS={value}: expected native and/or docker"
                ));
            }
        };
        if !backends.contains(&backend) {
            backends.push(backend);
        }
    }
    Ok(backends)
}
