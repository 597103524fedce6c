//! The connection budget: 80 database-mode tests, each holding 5 connections of its pool for
//! 3 s, under `cargo nextest run -j 64` on the harness's own server (max_connections 300).
//! Without a budget, 64 processes would ask for 320 connections and some tests would fail
//! with `PoolTimedOut`; with it, a test waits for its share, and all pass.
//!
//! The `hold_*` tests act only in the nested run (`PERSISTENCE_SCENARIO=budget`); the driver
//! reports the run's wall time and the peak number of the server's client connections
//! (`pg_stat_activity`, sampled while the run goes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::ephemeral::state_dir::StateDir;
use sqlx::{Connection, PgConnection, PgPool};

use crate::common::cargo::nested_nextest;
use crate::common::scenario::{SCENARIO, run, scenario_is};
use crate::common::server::wait_for_server_to_go;
use crate::common::tempdir::temp_dir;

/// Connections each test holds at once: its pool's maximum.
const HELD: usize = 5;

/// How long each test holds them.
const HOLD: Duration = Duration::from_secs(3);

async fn hold(pool: PgPool) {
    if !scenario_is("budget") {
        return;
    }
    let mut held = Vec::with_capacity(HELD);
    for _ in 0..HELD {
        held.push(
            pool.acquire()
                .await
                .expect("a connection of the test's pool"),
        );
    }
    tokio::time::sleep(HOLD).await;
    for conn in &mut held {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut **conn)
            .await
            .expect("still usable");
        assert_eq!(one, 1);
    }
}

macro_rules! holders {
    ($($name:ident)*) => {$(
        #[db_test(migrator = "crate::SCHEMA")]
        async fn $name(pool: PgPool) {
            hold(pool).await;
        }
    )*};
}

holders!(
    hold_01 hold_02 hold_03 hold_04 hold_05 hold_06 hold_07 hold_08 hold_09 hold_10
    hold_11 hold_12 hold_13 hold_14 hold_15 hold_16 hold_17 hold_18 hold_19 hold_20
    hold_21 hold_22 hold_23 hold_24 hold_25 hold_26 hold_27 hold_28 hold_29 hold_30
    hold_31 hold_32 hold_33 hold_34 hold_35 hold_36 hold_37 hold_38 hold_39 hold_40
    hold_41 hold_42 hold_43 hold_44 hold_45 hold_46 hold_47 hold_48 hold_49 hold_50
    hold_51 hold_52 hold_53 hold_54 hold_55 hold_56 hold_57 hold_58 hold_59 hold_60
    hold_61 hold_62 hold_63 hold_64 hold_65 hold_66 hold_67 hold_68 hold_69 hold_70
    hold_71 hold_72 hold_73 hold_74 hold_75 hold_76 hold_77 hold_78 hold_79 hold_80
);

/// Samples the client connections of the server recorded in `state_dir` until `done`,
/// returning the most seen at once.
fn sample_peak(state_dir: std::path::PathBuf, done: Arc<AtomicBool>) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let peak = AtomicI64::new(0);
        let mut conn: Option<PgConnection> = None;
        while !done.load(Ordering::Relaxed) {
            if conn.is_none()
                && let Some(server) = StateDir::new(&state_dir).server()
            {
                conn = PgConnection::connect_with(&server.admin_options())
                    .await
                    .ok();
            }
            if let Some(open) = conn.as_mut() {
                let count: Result<i64, _> = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                )
                .fetch_one(&mut *open)
                .await;
                match count {
                    Ok(count) => {
                        peak.fetch_max(count, Ordering::Relaxed);
                    }
                    Err(_) => conn = None,
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(open) = conn {
            let _ = open.close().await;
        }
        peak.load(Ordering::Relaxed)
    })
}

#[test]
fn eighty_tests_holding_five_connections_each_all_pass_under_nextest_j64() {
    if std::env::var_os(SCENARIO).is_some() {
        return;
    }
    let state_dir = temp_dir("budget");
    let mut command = nested_nextest("binary_id(persistence-pg::harness) & test(/^budget::hold_/)");
    command
        .args(["-j", "64"])
        .env("PERSISTENCE_STATE_DIR", state_dir.path())
        .env("PERSISTENCE_TEST_BACKEND", "native")
        .env("PERSISTENCE_TEST_IDLE_GRACE", "1")
        .env(SCENARIO, "budget");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (dir, done) = (state_dir.path().to_owned(), done.clone());
        std::thread::spawn(move || sample_peak(dir, done))
    };
    let started = Instant::now();
    let (output, text) = run(command);
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("sampler");
    eprintln!(
        "budget: 80 tests x {HELD} connections x {HOLD:?} under nextest -j 64: wall {:.1} s, \
         peak {peak} client connections",
        wall.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "nested nextest run failed:\n{text}"
    );
    assert!(
        text.contains("80 tests run: 80 passed"),
        "expected all 80 to pass:\n{text}"
    );
    // The run overlapped: tens of tests held their connections at once (64 would have asked
    // for 320, more than the server admits), and the budget kept them under the limit.
    assert!(
        (100..=297).contains(&peak),
        "peak {peak} client connections: expected the budget to let many tests run at once \
         within the server's 300 (3 reserved for superusers)"
    );
    wait_for_server_to_go(state_dir.path());
}
