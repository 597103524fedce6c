//! The overhead a test pays for its database, measured; `docs/measurements.md`
//! ("Measured") shows the figures.
//!
//! ```text
//! cargo bench --bench overhead                  # 3 timed rounds after 1 warm-up round
//! BENCH_ROUNDS=5 BENCH_WARMUP=0 cargo bench --bench overhead
//! ```
//!
//! This is a driver, not a benchmark harness (`harness = false`). It times whole test runs of
//! the generated suite in `benches/suite` (the workspace member `persistence-bench-suite`,
//! outside `default-members`), one test file per approach and migration set, each file holding
//! the same number of tests (`persistence_bench_suite::TESTS`, 100) that do the same trivial
//! work (one `INSERT INTO users`):
//!
//! | file | tests |
//! |---|---|
//! | `nodb.rs` | plain `#[test]`s without a database: the baseline |
//! | `tx_5.rs`, `tx_20.rs` | `#[db_test]` transaction mode (`conn: &mut PgConnection`) |
//! | `db_5.rs`, `db_20.rs` | `#[db_test]` database mode (`pool: PgPool`) |
//! | `sqlx_5.rs`, `sqlx_20.rs` | `#[sqlx::test]` (`pool: PgPool`) |
//! | `db_20_500.rs` | 500 `#[db_test]` database-mode tests: a run long enough to use every clone many times |
//! | `tx_fx_5.rs`, `db_fx_5.rs` | as `tx_5.rs` and `db_5.rs`, with three fixtures (`benches/suite/fixtures/`): fixtures are loaded once, so they should cost nothing |
//!
//! `_5` files apply `benches/migrations/5` (5 migrations), `_20` files `benches/migrations/20`
//! (22 migrations).
//!
//! Workflow:
//!
//! 1. Build the suite once, in the dev profile as `cargo test` would:
//!    `cargo test -p persistence-bench-suite --no-run --message-format=json` gives the test
//!    executables; `cargo nextest list -p persistence-bench-suite --list-type binaries-only
//!    --message-format json` and `cargo metadata` give nextest's reuse-build metadata
//!    (written to `target/persistence-bench/`).
//! 2. Get the harness's server (`persistence::ephemeral::server()`), started or joined, and
//!    keep it for the whole run: this process holds its users lock, so every timed run joins
//!    a running server (the common case), and `#[sqlx::test]` gets it as `DATABASE_URL`.
//! 3. Round after round (the order rotates every round, so machine noise hits all files
//!    alike), run every file under both runners and time the wall clock of the whole run:
//!    - cargo test: the test executable itself, from the suite's directory, as `cargo test`
//!      runs it (one process, libtest's threads);
//!    - nextest: `cargo nextest run --binaries-metadata .. --cargo-metadata .. -E
//!      'binary_id(=persistence-bench-suite::<file>)'`: one process per test, without the
//!      build step of `cargo nextest run` (a constant that the baseline would cancel, but
//!      that waits for the build lock whenever someone else is building).
//!
//!    The warm-up rounds (`BENCH_WARMUP`, default 1) build the templates and warm the caches
//!    and are not counted.
//! 4. Per runner and timed round: (wall time of the file - wall time of `nodb` in that round)
//!    / tests per file; the table shows the median over the rounds (`BENCH_ROUNDS`, default
//!    3), and the ratio against `#[sqlx::test]` on the same migrations.
//!
//! The output of every run is kept in `target/persistence-bench/logs/`; a failing run stops
//! the benchmark. The server stops by itself a few seconds after this process exits.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use common::{
    SUITE, SuiteBuild, build_suite_for_runners, cpu_model, env_number, list_tests, load_average,
    median, round_label, write_file,
};

/// The baseline file: the same number of tests, without a database.
const BASELINE: &str = "nodb";

/// One file of the suite that is compared against the baseline.
struct Case {
    file: &'static str,
    approach: &'static str,
    migrations: u32,
    /// The `#[sqlx::test]` file with the same migrations (itself for the sqlx rows).
    sqlx: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "tx_5",
        approach: "`#[db_test]` transaction",
        migrations: 5,
        sqlx: "sqlx_5",
    },
    Case {
        file: "db_5",
        approach: "`#[db_test]` database",
        migrations: 5,
        sqlx: "sqlx_5",
    },
    Case {
        file: "sqlx_5",
        approach: "`#[sqlx::test]`",
        migrations: 5,
        sqlx: "sqlx_5",
    },
    Case {
        file: "tx_20",
        approach: "`#[db_test]` transaction",
        migrations: 22,
        sqlx: "sqlx_20",
    },
    Case {
        file: "db_20",
        approach: "`#[db_test]` database",
        migrations: 22,
        sqlx: "sqlx_20",
    },
    Case {
        file: "sqlx_20",
        approach: "`#[sqlx::test]`",
        migrations: 22,
        sqlx: "sqlx_20",
    },
    Case {
        file: "tx_fx_5",
        approach: "`#[db_test]` transaction, 3 fixtures",
        migrations: 5,
        sqlx: "sqlx_5",
    },
    Case {
        file: "db_fx_5",
        approach: "`#[db_test]` database, 3 fixtures",
        migrations: 5,
        sqlx: "sqlx_5",
    },
    Case {
        file: "db_20_500",
        approach: "`#[db_test]` database, 500 tests",
        migrations: 22,
        sqlx: "sqlx_20",
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Runner {
    CargoTest,
    Nextest,
}

impl Runner {
    const ALL: [Runner; 2] = [Runner::CargoTest, Runner::Nextest];

    fn name(self) -> &'static str {
        match self {
            Runner::CargoTest => "cargo-test",
            Runner::Nextest => "nextest",
        }
    }
}

/// Everything a run needs, found once.
struct Setup {
    cargo: OsString,
    workspace: PathBuf,
    suite_dir: PathBuf,
    out_dir: PathBuf,
    /// Test executables of the suite, by file name.
    executables: HashMap<String, PathBuf>,
    binaries_metadata: PathBuf,
    cargo_metadata: PathBuf,
    database_url: String,
}

fn main() -> ExitCode {
    // Also done by the `testing` feature's constructor: this executable may be re-run as the
    // server's supervisor.
    persistence::ephemeral::supervisor::run_if_requested();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("overhead: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let started = Instant::now();
    let rounds = env_number("BENCH_ROUNDS", 3)?.max(1);
    let warmup = env_number("BENCH_WARMUP", 1)?;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    eprintln!("overhead: building {SUITE} (dev profile) for cargo test and nextest");
    let SuiteBuild {
        out_dir,
        executables,
        cargo_metadata,
        binaries_metadata,
    } = build_suite_for_runners(&cargo, &workspace, "persistence-bench")?;
    std::fs::create_dir_all(out_dir.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    let baseline = executables
        .get(BASELINE)
        .ok_or_else(|| format!("no test executable `{BASELINE}` in {SUITE}"))?;
    let mut tests = HashMap::from([(BASELINE, list_tests(baseline)?.len())]);
    for case in CASES {
        let exe = executables
            .get(case.file)
            .ok_or_else(|| format!("no test executable `{}` in {SUITE}", case.file))?;
        tests.insert(case.file, list_tests(exe)?.len());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let server_started = Instant::now();
    let server = runtime
        .block_on(persistence::ephemeral::server())
        .map_err(|e| format!("no test server: {e}"))?;
    let server_ms = server_started.elapsed().as_secs_f64() * 1e3;
    let database_url = match server.backend() {
        persistence::ephemeral::BackendKind::External => std::env::var("TEST_DATABASE_URL")
            .map_err(|_| "an external server needs TEST_DATABASE_URL for #[sqlx::test]")?,
        _ => server.owner_url("postgres"),
    };
    eprintln!(
        "overhead: server {} ({}, PostgreSQL {}) ready in {server_ms:.0} ms",
        server.display_url("postgres"),
        server.backend(),
        server.version().unwrap_or("?"),
    );

    let setup = Setup {
        cargo,
        suite_dir: workspace.join("benches/suite"),
        workspace,
        out_dir,
        executables,
        binaries_metadata,
        cargo_metadata,
        database_url,
    };

    let files: Vec<&str> = std::iter::once(BASELINE)
        .chain(CASES.iter().map(|c| c.file))
        .collect();
    // times[(runner, file)][timed round] in seconds.
    let mut times: HashMap<(Runner, &str), Vec<f64>> = HashMap::new();
    let load_before = load_average();
    let total = warmup + rounds;
    for round in 0..total {
        let (timed, label) = round_label(round, warmup, rounds);
        // Rotate the order so that no file always follows the same one.
        let mut order = files.clone();
        order.rotate_left(round % files.len());
        for &file in &order {
            for runner in Runner::ALL {
                let took = time_run(&setup, runner, file, round)?;
                eprintln!(
                    "overhead: {label}: {:<10} {:<8} {:>7.2} s",
                    runner.name(),
                    file,
                    took.as_secs_f64()
                );
                if timed {
                    times
                        .entry((runner, file))
                        .or_default()
                        .push(took.as_secs_f64());
                }
            }
        }
    }

    let elapsed = started.elapsed();
    let load = format!(
        "load average {load_before} before the runs, {} after",
        load_average()
    );
    let report = report(&times, &tests, rounds, warmup, server, elapsed, &load);
    print!("{report}");
    let report_path = setup.out_dir.join("report.md");
    write_file(&report_path, &report)?;
    eprintln!("overhead: report also written to {}", report_path.display());
    Ok(())
}

/// Runs one file of the suite under `runner` and returns the wall time of the whole run.
fn time_run(setup: &Setup, runner: Runner, file: &str, round: usize) -> Result<Duration, String> {
    let log_path = setup
        .out_dir
        .join("logs")
        .join(format!("{}-{file}-{round}.log", runner.name()));
    let mut command = match runner {
        Runner::CargoTest => {
            let exe = &setup.executables[file];
            let mut command = Command::new(exe);
            command
                .current_dir(&setup.suite_dir)
                .env("CARGO_MANIFEST_DIR", &setup.suite_dir);
            command
        }
        Runner::Nextest => {
            let mut command = Command::new(&setup.cargo);
            command
                .current_dir(&setup.workspace)
                .args(["nextest", "run", "--binaries-metadata"])
                .arg(&setup.binaries_metadata)
                .arg("--cargo-metadata")
                .arg(&setup.cargo_metadata)
                .args(["-E", &format!("binary_id(={SUITE}::{file})")]);
            command
        }
    };
    command.env("DATABASE_URL", &setup.database_url);
    let (status, took, output) = common::run_logged(&mut command, &log_path)?;
    if !status.success() {
        return Err(format!(
            "{} of {file} failed ({status}); log {}:\n{}",
            runner.name(),
            log_path.display(),
            common::last_lines(&output, 40)
        ));
    }
    Ok(took)
}

fn report(
    times: &HashMap<(Runner, &str), Vec<f64>>,
    tests: &HashMap<&str, usize>,
    rounds: usize,
    warmup: usize,
    server: &persistence::ephemeral::Server,
    elapsed: Duration,
    load: &str,
) -> String {
    // Per runner and file: median over rounds of (file / its tests - baseline of the same
    // round / its tests).
    let per_test = |runner: Runner, file: &str| -> f64 {
        let base = &times[&(runner, BASELINE)];
        let (n, n_base) = (tests[file] as f64, tests[BASELINE] as f64);
        let diffs: Vec<f64> = times[&(runner, file)]
            .iter()
            .zip(base)
            .map(|(t, b)| (t / n - b / n_base) * 1e3)
            .collect();
        median(diffs)
    };
    let raw = |runner: Runner, file: &str| median(times[&(runner, file)].clone());
    let ratio = |x: f64, of: f64| {
        if of > 0.0 {
            format!("{:.2}x", x / of)
        } else {
            "-".to_owned()
        }
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Database overhead per test (ms above a test without a database)\n"
    );
    let _ = writeln!(
        out,
        "Command: `BENCH_ROUNDS={rounds} BENCH_WARMUP={warmup} cargo bench --bench overhead`  "
    );
    let _ = writeln!(
        out,
        "Machine: {} CPUs (nproc), {}; PostgreSQL {} ({} backend); {} tests per file unless \
         named; \
         median of {rounds} rounds after {warmup} warm-up round(s); run time {:.0} s; {load} \
         (1-minute; other work on the machine inflates every row)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        server.version().unwrap_or("?"),
        server.backend(),
        tests[BASELINE],
        elapsed.as_secs_f64(),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| approach | migrations | cargo test ms/test | nextest ms/test | cargo test vs sqlx::test | nextest vs sqlx::test |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for case in CASES {
        let cargo = per_test(Runner::CargoTest, case.file);
        let nextest = per_test(Runner::Nextest, case.file);
        let _ = writeln!(
            out,
            "| {} | {} | {cargo:.1} | {nextest:.1} | {} | {} |",
            case.approach,
            case.migrations,
            ratio(cargo, per_test(Runner::CargoTest, case.sqlx)),
            ratio(nextest, per_test(Runner::Nextest, case.sqlx)),
        );
    }
    let _ = writeln!(out, "\nMedian wall time of a whole file, seconds:\n");
    let _ = writeln!(out, "| file | tests | cargo test | nextest |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for file in std::iter::once(BASELINE).chain(CASES.iter().map(|c| c.file)) {
        let _ = writeln!(
            out,
            "| {file} | {} | {:.2} | {:.2} |",
            tests[file],
            raw(Runner::CargoTest, file),
            raw(Runner::Nextest, file)
        );
    }
    out
}
