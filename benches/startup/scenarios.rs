//! The scenarios: cold starts (first-ever, cached cluster) and joins, each in a private state
//! directory, timed as whole test processes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use persistence::ephemeral::{BackendKind, Server, Settings};

use crate::common::{load_average, median, round_label};
use crate::servers::{Started, copy_pristine, remove_state_dir, servers_started, wait_gone};

/// A backend the benchmark measures.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Backend {
    Native,
    Docker,
}

impl Backend {
    pub fn name(self) -> &'static str {
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
pub enum Job {
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
pub enum Metric {
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
pub struct Setup {
    pub suite_dir: PathBuf,
    pub logs: PathBuf,
    /// Private state directories live below it; removed at the end.
    pub scratch: PathBuf,
    pub tx_exe: PathBuf,
    pub nodb_exe: PathBuf,
    pub test: String,
    pub image: String,
    pub joins: usize,
}

/// Values per (metric, backend): one per timed round.
pub type Values = HashMap<(Metric, Backend), Vec<f64>>;

pub fn measure(
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
        let (timed, label) = round_label(round, warmup, rounds);
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
    wait_gone(dir, &servers, started)?;
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
    wait_gone(dir, &servers, started)?;
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
    // Run as root, a native server keeps its pristine cluster in PostgreSQL's own directory
    // in the system's temporary one, not in the state directory: each state directory gets
    // a temporary directory of its own, so that a first-ever start finds no cluster there
    // and a cached one finds the copy (`copy_pristine`).
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut command = Command::new(exe);
    command
        .args(["--exact", &setup.test])
        .env("TMPDIR", &tmp)
        .current_dir(&setup.suite_dir)
        .env("CARGO_MANIFEST_DIR", &setup.suite_dir)
        .env_remove("TEST_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("PERSISTENCE_TEST_BACKEND", backend.name())
        .env("PERSISTENCE_STATE_DIR", dir)
        .env("PERSISTENCE_TEST_IMAGE", &setup.image)
        .env("PERSISTENCE_TEST_IDLE_GRACE", "0");
    let (status, took, output) = crate::common::run_logged(&mut command, &log_path)?;
    if !status.success() || !output.contains("1 passed") {
        return Err(format!(
            "{} --exact {} did not pass one test ({status}); log {}:\n{}",
            exe.display(),
            setup.test,
            log_path.display(),
            crate::common::last_lines(&output, 40)
        ));
    }
    Ok(took)
}
