//! How long a test waits for its server: cold start and join, measured (DESIGN.md, "Measured,
//! not assumed"; targets: cold start native <= 1.5 s, docker <= 4 s, join <= 15 ms).
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
//! After every cold start the driver waits until the server has gone (`server.json` removed, the
//! supervisor process ended, the native instance directory deleted, no container labelled with the
//! state directory's harness key) and removes the state directory; it checks each run started
//! exactly one server (`starts.log`) and the join runs none. The table shows, per backend, the
//! median over the timed rounds (`BENCH_ROUNDS`, default 5; `BENCH_WARMUP`, default 1, are not
//! counted) and the range. At the end it checks and reports that nothing is left behind. The
//! output of the last run of each kind is kept in `target/persistence-bench/logs/`.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use persistence::ephemeral::state_dir::{HARNESS_LABEL, SERVER_FILE, STARTS_LOG, StateDir};
use persistence::ephemeral::{BackendKind, Server, Settings};
use serde_json::Value;

use common::{SUITE, build_suite, cpu_model, env_number, load_average, median, output_of};

/// The transaction-mode file whose first test is run.
const TX_FILE: &str = "tx_5";
/// The baseline file: the same test names, without a database.
const BASELINE: &str = "nodb";
/// The image of the docker backend unless `PERSISTENCE_TEST_IMAGE` says otherwise.
const LOCAL_IMAGE: &str = "persistence/postgres:15-local";
/// The label every container of the harness carries (its value: the harness key).
/// How long a server may take to go after its last user.
const GONE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Backend {
    Native,
    Docker,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Docker => "docker",
        }
    }

    fn kind(self) -> BackendKind {
        match self {
            Backend::Native => BackendKind::Native,
            Backend::Docker => BackendKind::Docker,
        }
    }
}

/// One measurement of a round.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Job {
    FirstEver(Backend),
    Cached(Backend),
    Join(Backend),
}

impl Job {
    fn name(self) -> String {
        let (what, backend) = match self {
            Job::FirstEver(b) => ("first-ever", b),
            Job::Cached(b) => ("cached", b),
            Job::Join(b) => ("join", b),
        };
        format!("{}-{what}", backend.name())
    }
}

/// What a round's numbers are about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Metric {
    /// Raw ms of a cold `tx_5` process with an empty state directory.
    FirstEver,
    /// Raw ms of a cold `tx_5` process with the pristine cluster cached.
    Cached,
    /// In-process `server_with`, ms.
    ServerAlone,
    /// Raw ms of the first `tx_5` process on a held server (template build).
    TemplateBuild,
    /// Median raw ms of a `tx_5` process on a held server.
    JoinTx,
    /// Median raw ms of a `nodb` process, measured beside `JoinTx`.
    JoinBase,
}

/// Everything a run needs, found once.
struct Setup {
    suite_dir: PathBuf,
    logs: PathBuf,
    /// Private state directories live below it; removed at the end.
    scratch: PathBuf,
    tx_exe: PathBuf,
    nodb_exe: PathBuf,
    test: String,
    image: String,
    joins: usize,
}

/// What the servers of this run were, to check that they are gone.
#[derive(Default)]
struct Started {
    /// Supervisor pids.
    supervisors: Vec<u32>,
    /// Native instance directories.
    instance_dirs: Vec<PathBuf>,
    /// Harness keys of the docker state directories.
    docker_keys: Vec<String>,
    /// PostgreSQL version per backend.
    versions: HashMap<Backend, String>,
    /// The directory of this run's private state directories, once made.
    scratch: Option<PathBuf>,
    /// `target/persistence-bench`, once known.
    out_dir: Option<PathBuf>,
}

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
    Ok(report(
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

/// Values per (metric, backend): one per timed round.
type Values = HashMap<(Metric, Backend), Vec<f64>>;

fn measure(
    setup: &Setup,
    backends: &[Backend],
    rounds: usize,
    warmup: usize,
    started: &mut Started,
) -> Result<(Values, String), String> {
    // The pristine cluster the "cached" cold starts copy: built by a native first start.
    let pristine_source = setup.scratch.join("pristine-source");
    if backends.contains(&Backend::Native) {
        eprintln!("startup: building the pristine cluster (a native first start, not timed)");
        let took = cold_start(
            setup,
            Backend::Native,
            &pristine_source,
            None,
            started,
            true,
        )?;
        eprintln!("startup: done in {:.0} ms", took * 1e3);
    }
    let mut jobs = Vec::new();
    for &backend in backends {
        jobs.push(Job::FirstEver(backend));
        if backend == Backend::Native {
            jobs.push(Job::Cached(backend));
        }
        jobs.push(Job::Join(backend));
    }
    let load_before = load_average();
    let mut values: Values = HashMap::new();
    for round in 0..warmup + rounds {
        let timed = round >= warmup;
        let label = if timed {
            format!("round {}/{rounds}", round - warmup + 1)
        } else {
            format!("warm-up {}/{warmup}", round + 1)
        };
        let mut order = jobs.clone();
        order.rotate_left(round % jobs.len());
        for job in order {
            let dir = setup.scratch.join(format!("round{round}-{}", job.name()));
            let mut record = |metric: Metric, backend: Backend, secs: f64| {
                eprintln!(
                    "startup: {label}: {:<6} {:<14} {:>8.1} ms",
                    backend.name(),
                    format!("{metric:?}"),
                    secs * 1e3
                );
                if timed {
                    values
                        .entry((metric, backend))
                        .or_default()
                        .push(secs * 1e3);
                }
            };
            match job {
                Job::FirstEver(backend) => {
                    let took = cold_start(setup, backend, &dir, None, started, false)?;
                    record(Metric::FirstEver, backend, took);
                }
                Job::Cached(backend) => {
                    let took =
                        cold_start(setup, backend, &dir, Some(&pristine_source), started, false)?;
                    record(Metric::Cached, backend, took);
                }
                Job::Join(backend) => {
                    let source = (backend == Backend::Native).then_some(pristine_source.as_path());
                    let join = join(setup, backend, &dir, source, started)?;
                    record(Metric::ServerAlone, backend, join.server);
                    record(Metric::TemplateBuild, backend, join.template);
                    record(Metric::JoinTx, backend, join.tx);
                    record(Metric::JoinBase, backend, join.base);
                }
            }
        }
    }
    if pristine_source.exists() {
        remove_state_dir(&pristine_source)?;
    }
    let load = format!(
        "load average {load_before} before the timed runs, {} after",
        load_average()
    );
    Ok((values, load))
}

/// One cold start: a `tx_5` process on a state directory without a server; returns seconds.
/// `pristine` names a state directory whose `pristine-*` clusters are copied in first. With
/// `keep`, the state directory is kept after the server has gone.
fn cold_start(
    setup: &Setup,
    backend: Backend,
    dir: &Path,
    pristine: Option<&Path>,
    started: &mut Started,
    keep: bool,
) -> Result<f64, String> {
    if let Some(source) = pristine {
        copy_pristine(source, dir)?;
    }
    let took = run_test(setup, &setup.tx_exe, backend, dir, "cold")?;
    let servers = servers_started(dir)?;
    if servers.len() != 1 {
        return Err(format!(
            "a cold start in {} started {} servers, expected 1",
            dir.display(),
            servers.len()
        ));
    }
    wait_gone(backend, dir, &servers, started)?;
    if !keep {
        remove_state_dir(dir)?;
    }
    Ok(took.as_secs_f64())
}

/// The times of one join block, in seconds (medians for `tx` and `base`).
struct JoinTimes {
    server: f64,
    template: f64,
    tx: f64,
    base: f64,
}

fn join(
    setup: &Setup,
    backend: Backend,
    dir: &Path,
    pristine: Option<&Path>,
    started: &mut Started,
) -> Result<JoinTimes, String> {
    if let Some(source) = pristine {
        copy_pristine(source, dir)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let settings = settings(setup, backend, dir)?;
    let start = Instant::now();
    let server: Server = runtime
        .block_on(persistence::ephemeral::server_with(settings))
        .map_err(|e| format!("no {} server: {e}", backend.name()))?;
    let server_secs = start.elapsed().as_secs_f64();
    if server.backend() != backend.kind() {
        return Err(format!(
            "asked for a {} server, got {}",
            backend.name(),
            server.backend()
        ));
    }
    if let Some(version) = server.version() {
        started.versions.insert(backend, version.to_owned());
    }
    // Runs while the server is held; the server is released whatever happens.
    let timed = (|| {
        let template = run_test(setup, &setup.tx_exe, backend, dir, "template")?;
        let mut tx = Vec::new();
        let mut base = Vec::new();
        for _ in 0..setup.joins {
            base.push(run_test(setup, &setup.nodb_exe, backend, dir, "join")?.as_secs_f64());
            tx.push(run_test(setup, &setup.tx_exe, backend, dir, "join")?.as_secs_f64());
        }
        Ok::<_, String>(JoinTimes {
            server: server_secs,
            template: template.as_secs_f64(),
            tx: median(tx),
            base: median(base),
        })
    })();
    drop(server);
    drop(runtime);
    let servers = servers_started(dir)?;
    wait_gone(backend, dir, &servers, started)?;
    remove_state_dir(dir)?;
    let times = timed?;
    if servers.len() != 1 {
        return Err(format!(
            "the join runs in {} started {} servers, expected 1 (the held one)",
            dir.display(),
            servers.len()
        ));
    }
    Ok(times)
}

/// The settings the test processes get from their environment, for the held server.
fn settings(setup: &Setup, backend: Backend, dir: &Path) -> Result<Settings, String> {
    let state_dir = dir.to_string_lossy().into_owned();
    Settings::from_lookup(|name| match name {
        "PERSISTENCE_TEST_BACKEND" => Some(backend.name().to_owned()),
        "PERSISTENCE_STATE_DIR" => Some(state_dir.clone()),
        "PERSISTENCE_TEST_IMAGE" => Some(setup.image.clone()),
        "PERSISTENCE_TEST_IDLE_GRACE" => Some("0".to_owned()),
        "PERSISTENCE_PG_BIN" => std::env::var("PERSISTENCE_PG_BIN").ok(),
        _ => None,
    })
    .map_err(|e| format!("bad settings: {e}"))
}

/// Runs the single test of `exe` against the state directory `dir`; returns its wall time.
fn run_test(
    setup: &Setup,
    exe: &Path,
    backend: Backend,
    dir: &Path,
    what: &str,
) -> Result<Duration, String> {
    let file = exe
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').next())
        .unwrap_or("test");
    let log_path = setup
        .logs
        .join(format!("startup-{}-{what}-{file}.log", backend.name()));
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;
    let mut command = Command::new(exe);
    command
        .args(["--exact", &setup.test])
        .current_dir(&setup.suite_dir)
        .env("CARGO_MANIFEST_DIR", &setup.suite_dir)
        .env_remove("TEST_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("PERSISTENCE_TEST_BACKEND", backend.name())
        .env("PERSISTENCE_STATE_DIR", dir)
        .env("PERSISTENCE_TEST_IMAGE", &setup.image)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "0")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let start = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let took = start.elapsed();
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() || !output.contains("1 passed") {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{} --exact {} did not pass one test ({status}); log {}:\n{}",
            exe.display(),
            setup.test,
            log_path.display(),
            tail.join("\n")
        ));
    }
    Ok(took)
}

/// A server recorded in `starts.log`.
struct StartLine {
    supervisor: u32,
    instance_dir: Option<PathBuf>,
}

fn servers_started(dir: &Path) -> Result<Vec<StartLine>, String> {
    StateDir::new(dir)
        .starts()
        .into_iter()
        .map(|start| {
            let supervisor = start.supervisor_pid().ok_or_else(|| {
                format!(
                    "{}: no supervisor pid in `{}`",
                    dir.join(STARTS_LOG).display(),
                    start.instance_id
                )
            })?;
            Ok(StartLine {
                supervisor,
                instance_dir: start.instance_dir().map(Path::to_path_buf),
            })
        })
        .collect()
}

/// Waits until the servers of `dir` have gone: no `server.json`, supervisors ended, native
/// data removed, no container with the state directory's harness key.
fn wait_gone(
    backend: Backend,
    dir: &Path,
    servers: &[StartLine],
    started: &mut Started,
) -> Result<(), String> {
    let key = harness_key(dir);
    for server in servers {
        started.supervisors.push(server.supervisor);
        if let Some(dir) = &server.instance_dir {
            started.instance_dirs.push(dir.clone());
        }
    }
    if backend == Backend::Docker {
        started.docker_keys.push(key.clone());
    }
    let deadline = Instant::now() + GONE_TIMEOUT;
    loop {
        let state_file = dir.join(SERVER_FILE).exists();
        let supervisors = servers.iter().any(|s| pid_alive(s.supervisor));
        let data = servers
            .iter()
            .any(|s| s.instance_dir.as_deref().is_some_and(Path::exists));
        let containers = backend == Backend::Docker && !containers(Some(&key))?.is_empty();
        if !(state_file || supervisors || data || containers) {
            for server in servers {
                reap(server.supervisor);
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the server of {} did not go within {GONE_TIMEOUT:?} (server.json: {state_file}, \
                 supervisor: {supervisors}, data: {data}, containers: {containers})",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The harness key of a state directory, as the docker backend labels its containers.
fn harness_key(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Ids of the harness's containers (of one harness key, or all), running or not.
fn containers(key: Option<&str>) -> Result<Vec<String>, String> {
    let filter = match key {
        Some(key) => format!("label={HARNESS_LABEL}={key}"),
        None => format!("label={HARNESS_LABEL}"),
    };
    let out = output_of(Command::new("docker").args(["ps", "-aq", "--filter", &filter]))?;
    Ok(out.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` runs; a zombie does not.
fn pid_alive(pid: u32) -> bool {
    persistence::ephemeral::platform::process_alive(pid)
}

/// Reaps `pid` if it is an ended child of this process (the supervisors of held servers are).
fn reap(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on one pid; a pid that is not our child gives ECHILD.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Copies the `pristine-*` clusters of `source` into the new state directory `dir`, keeping
/// owners and modes.
fn copy_pristine(source: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let entries =
        std::fs::read_dir(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mut copied = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("pristine-") && !name.starts_with("pristine-building-") {
            output_of(Command::new("cp").arg("-a").arg(entry.path()).arg(dir))?;
            copied += 1;
        }
    }
    if copied == 0 {
        return Err(format!("no pristine cluster in {}", source.display()));
    }
    Ok(())
}

fn remove_state_dir(dir: &Path) -> Result<(), String> {
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// Checks that the servers of this run are gone; one line for the report.
fn leftovers(started: &Started) -> String {
    let mut problems = Vec::new();
    let supervisors: Vec<u32> = started
        .supervisors
        .iter()
        .copied()
        .filter(|&pid| pid_alive(pid))
        .collect();
    if !supervisors.is_empty() {
        problems.push(format!("supervisors still running: {supervisors:?}"));
    }
    let dirs: Vec<String> = started
        .instance_dirs
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    if !dirs.is_empty() {
        problems.push(format!("native data directories: {}", dirs.join(", ")));
    }
    let mut mine = 0;
    for key in &started.docker_keys {
        match containers(Some(key)) {
            Ok(ids) => mine += ids.len(),
            Err(e) => problems.push(format!("cannot list containers: {e}")),
        }
    }
    if mine > 0 {
        problems.push(format!("{mine} containers of this run"));
    }
    if let Some(dir) = started.scratch.as_ref().filter(|d| d.exists()) {
        problems.push(format!("state directories under {}", dir.display()));
    }
    let all = containers(None).map_or_else(|e| format!("? ({e})"), |ids| ids.len().to_string());
    let checked = format!(
        "{} servers started ({} native data dirs, {} docker state dirs); `docker ps -a --filter \
         label={HARNESS_LABEL}` now lists {all} containers",
        started.supervisors.len(),
        started.instance_dirs.len(),
        started.docker_keys.len(),
    );
    if problems.is_empty() {
        format!(
            "nothing: every private state directory removed, every supervisor ended, no data \
             directory, no container of this run ({checked})."
        )
    } else {
        format!("{} ({checked}).", problems.join("; "))
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    setup: &Setup,
    backends: &[Backend],
    values: &Values,
    rounds: usize,
    warmup: usize,
    started: &Started,
    elapsed: Duration,
    load: &str,
) -> String {
    let get = |metric: Metric, backend: Backend| values.get(&(metric, backend)).cloned();
    // Per round: the baseline is the median nodb process of the round's join block.
    let above_base = |metric: Metric, backend: Backend| -> Option<Vec<f64>> {
        let raw = get(metric, backend)?;
        let base = get(Metric::JoinBase, backend)?;
        Some(raw.iter().zip(&base).map(|(t, b)| t - b).collect())
    };
    let cell = |v: Option<Vec<f64>>, precision: usize| match v {
        Some(v) if !v.is_empty() => {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!(
                "{:.precision$} ({lo:.precision$}-{hi:.precision$})",
                median(v)
            )
        }
        _ => "-".to_owned(),
    };
    let met = |v: Option<Vec<f64>>, target: f64| match v {
        Some(v) if !v.is_empty() => {
            if median(v) <= target {
                "met"
            } else {
                "MISSED"
            }
        }
        _ => "-",
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Server start and join (ms above a process running one test without a database)\n"
    );
    let _ = writeln!(
        out,
        "Command: `BENCH_ROUNDS={rounds} BENCH_WARMUP={warmup} BENCH_JOINS={} BENCH_BACKENDS={} \
         cargo bench --bench startup`  ",
        setup.joins,
        backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(",")
    );
    let versions: Vec<String> = backends
        .iter()
        .map(|b| {
            let version = started.versions.get(b).map_or("?", String::as_str);
            match b {
                Backend::Native => format!("native PostgreSQL {version}"),
                Backend::Docker => format!("docker PostgreSQL {version} ({})", setup.image),
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "Machine: {} CPUs (nproc), {}; {}; test `{TX_FILE} --exact {}` (5 migrations), baseline \
         `{BASELINE} --exact {}`; median (min-max) of {rounds} rounds after {warmup} warm-up \
         round(s), join: median of {} processes per round; run time {:.0} s; {load} (1-minute; \
         other work on the machine inflates every number)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        versions.join(", "),
        setup.test,
        setup.test,
        setup.joins,
        elapsed.as_secs_f64(),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| backend | first-ever cold start | cold start, cached cluster | join per process |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for &backend in backends {
        let cached = match backend {
            Backend::Native => cell(above_base(Metric::Cached, backend), 0),
            Backend::Docker => "- (image local)".to_owned(),
        };
        let join = get(Metric::JoinTx, backend).zip(get(Metric::JoinBase, backend));
        let join = join.map(|(tx, base)| tx.iter().zip(&base).map(|(t, b)| t - b).collect());
        let _ = writeln!(
            out,
            "| {} | {} | {cached} | {} |",
            backend.name(),
            cell(above_base(Metric::FirstEver, backend), 0),
            cell(join, 1),
        );
    }
    let _ = writeln!(
        out,
        "\nCold start: one `{TX_FILE}` process on an empty state directory (first-ever: initdb \
         runs for native) or one holding a copy of the cached pristine cluster: server start, \
         template build (5 migrations), one connection, the test. Join: a `{TX_FILE}` process on \
         a server this driver holds: join (two flocks, a JSON file), one new connection, BEGIN, \
         INSERT, ROLLBACK.\n"
    );
    let _ = writeln!(
        out,
        "Parts, ms, median (min-max): server start alone is `server_with` in the driver (cached \
         cluster for native), without a test process; template build is the first `{TX_FILE}` \
         process on that held server, above the baseline; raw times are whole processes.\n"
    );
    let _ = writeln!(
        out,
        "| backend | server start alone | template build + first test | raw `{TX_FILE}` on a running server | raw `{BASELINE}` |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for &backend in backends {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            backend.name(),
            cell(get(Metric::ServerAlone, backend), 0),
            cell(above_base(Metric::TemplateBuild, backend), 0),
            cell(get(Metric::JoinTx, backend), 1),
            cell(get(Metric::JoinBase, backend), 1),
        );
    }
    let _ = writeln!(out, "\nTargets (DESIGN.md):");
    for &backend in backends {
        let (target, cold) = match backend {
            Backend::Native => (1500.0, above_base(Metric::Cached, backend)),
            Backend::Docker => (4000.0, above_base(Metric::FirstEver, backend)),
        };
        let join = get(Metric::JoinTx, backend)
            .zip(get(Metric::JoinBase, backend))
            .map(|(tx, base)| tx.iter().zip(&base).map(|(t, b)| t - b).collect());
        let _ = writeln!(
            out,
            "- {}: cold start <= {target:.0} ms: {}; first-ever <= {target:.0} ms: {}; join <= \
             15 ms: {}",
            backend.name(),
            met(cold, target),
            met(above_base(Metric::FirstEver, backend), target),
            met(join, 15.0),
        );
    }
    out
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

/// The tests of a libtest executable (`--list`).
fn list_tests(exe: &Path) -> Result<Vec<String>, String> {
    let listing = output_of(Command::new(exe).args(["--list", "--format", "terse"]))?;
    Ok(listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
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
