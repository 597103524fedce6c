//! The report: the tables of `docs/measurements.md` ("Measured"), and the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::common::{cpu_model, median};
use crate::scenarios::{Backend, Metric, Setup, Values};
use crate::servers::Started;
use crate::{BASELINE, TX_FILE};

#[allow(clippy::too_many_arguments)]
pub fn report(
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
    let _ = writeln!(out, "\nTargets (see the module documentation):");
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
