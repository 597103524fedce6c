//! Nothing is left behind: not after a run, not after a test process is killed with
//! SIGKILL in the middle of a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::ephemeral::state_dir::StateDir;
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::common::scenario::{self, child, scenario_is, test_path};
use crate::common::tempdir::temp_dir;

#[db_test(migrator = "crate::SCHEMA")]
async fn holds_a_database_until_killed(pool: PgPool) {
    if !scenario_is("hold") {
        return;
    }
    let name: String = sqlx::query_scalar(
        "INSERT INTO users (email, display_name) VALUES ('victim@example.com', 'Victim') \
         RETURNING current_database()",
    )
    .fetch_one(&pool)
    .await
    .expect("a committed row, then the name");
    println!("HOLDING {name}");
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[db_test(migrator = "crate::SCHEMA")]
async fn finds_the_killed_tests_database_swept(pool: PgPool) {
    if !scenario_is("sweep") {
        return;
    }
    let victim = std::env::var("VICTIM_DATABASE").expect("VICTIM_DATABASE");
    let ours: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("name");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "{ours} holds a row of another test");
    // The killed test's lease died with it: its clone is made clean before anyone gets it,
    // by this test if it took it, else by the janitor (which may have had a clean clone
    // ready for this test first).
    if ours != victim {
        let options = pool.connect_options().as_ref().clone().database(&victim);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut conn = options
                .connect()
                .await
                .expect("connect to the killed test's clone");
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&mut conn)
                .await
                .expect("count");
            let _ = conn.close().await;
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{victim} still holds the killed test's row"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("SWEPT {victim}");
}

#[derive(Debug)]
struct ServerFiles {
    supervisor: u32,
    postmaster: u32,
    instance_dir: PathBuf,
}

fn server_files(state_dir: &Path) -> ServerFiles {
    let server = StateDir::new(state_dir).server().expect("server.json");
    ServerFiles {
        supervisor: server.supervisor_pid,
        postmaster: server
            .process
            .postmaster_pid()
            .expect("a native server's pid"),
        instance_dir: server
            .process
            .instance_dir()
            .expect("a native server's directory")
            .to_path_buf(),
    }
}

fn alive(pid: u32) -> bool {
    persistence::ephemeral::platform::process_alive(pid)
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_test_killed_mid_run_leaves_nothing_behind() {
    let scratch = temp_dir("sigkill");
    let state_dir = scratch.path();
    let with_env = |mut command: std::process::Command| {
        command
            .env("PERSISTENCE_STATE_DIR", state_dir)
            .env("PERSISTENCE_TEST_IDLE_GRACE", "5")
            .env("PERSISTENCE_TEST_BACKEND", "native");
        command
    };

    let mut victim = scenario::spawn(with_env(child(
        &test_path(module_path!(), "holds_a_database_until_killed"),
        "hold",
    )));
    let stdout = victim.stdout.take().expect("stdout");
    let database = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| Some(line.split_once("HOLDING ")?.1.trim().to_owned()))
        .expect("the child reports its database");
    let server = server_files(state_dir);
    assert!(
        alive(server.supervisor) && alive(server.postmaster),
        "{server:?}"
    );

    victim.kill().expect("SIGKILL");
    victim.wait().expect("reap");

    // A process that joins the same server gets the dead owner's clone, clean.
    let mut sweeper = with_env(child(
        &test_path(module_path!(), "finds_the_killed_tests_database_swept"),
        "sweep",
    ));
    sweeper.env("VICTIM_DATABASE", &database);
    let (output, text) = scenario::run(sweeper);
    assert!(output.status.success() && text.contains("SWEPT"), "{text}");
    assert_eq!(
        server_files(state_dir).postmaster,
        server.postmaster,
        "same server joined"
    );

    // Once nobody uses the server for the idle grace, it goes, with its data.
    wait_until(
        "the supervisor and the server to stop",
        Duration::from_secs(20),
        || !alive(server.supervisor) && !alive(server.postmaster),
    );
    assert!(
        !server.instance_dir.exists(),
        "{} left behind",
        server.instance_dir.display()
    );
    assert_eq!(StateDir::new(state_dir).server(), None);
}

#[test]
fn a_killed_supervisor_takes_its_server_down_and_the_next_run_sweeps_its_data() {
    let scratch = temp_dir("supervisor");
    let state_dir = scratch.path();
    let run_once = || {
        let mut command = child(
            &test_path(module_path!(), "holds_a_database_until_killed"),
            "none",
        );
        command
            .env("PERSISTENCE_STATE_DIR", state_dir)
            .env("PERSISTENCE_TEST_IDLE_GRACE", "never")
            .env("PERSISTENCE_TEST_BACKEND", "native");
        let (output, text) = scenario::run(command);
        assert!(output.status.success(), "{text}");
        server_files(state_dir)
    };
    let first = run_once();
    // SIGKILL the supervisor: the kernel's parent-death signal stops postgres.
    scenario::run({
        let mut kill = std::process::Command::new("kill");
        kill.args(["-9", &first.supervisor.to_string()]);
        kill
    });
    wait_until(
        "the orphaned server to stop",
        Duration::from_secs(10),
        || !alive(first.postmaster),
    );
    // Its data stays until a start sweeps it: this run's next one below, or a server start
    // of another test of the machine meanwhile (the RAM directory is every state
    // directory's), which is as good.

    let second = run_once();
    assert_ne!(second.instance_dir, first.instance_dir);
    assert!(
        !first.instance_dir.exists(),
        "the next start swept the orphan's data"
    );

    scenario::run({
        let mut kill = std::process::Command::new("kill");
        kill.args(["-9", &second.supervisor.to_string()]);
        kill
    });
    wait_until("the second server to stop", Duration::from_secs(10), || {
        !alive(second.postmaster)
    });
    let _ = std::fs::remove_dir_all(&second.instance_dir);
}
