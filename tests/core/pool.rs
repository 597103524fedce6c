//! The pool against real servers: it never opens more connections than its limit under four
//! times that demand; exhaustion is a `Timeout` that names the limit; a server that is not
//! there (or goes away) is `Unreachable`, not a `Timeout`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use persistence::db_test;
use persistence::postgres::{
    Error, ErrorCategory, HealthOptions, HealthStatus, PgConfig, TransactionOptions, acquire,
    check_with, connect, connect_lazy, transaction,
};
use persistence::testing::TestDb;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::common::server::{free_port, host_port, url_for, with_params};

const LIMIT: usize = 3;

#[db_test]
async fn never_more_connections_than_the_limit_under_four_times_the_demand(db: TestDb) {
    let app = format!("persistence-limit-{}", std::process::id());
    let url = with_params(
        &url_for(db.name()).await,
        &format!("connection_limit={LIMIT}&application_name={app}&pool_timeout=60"),
    );
    let pool = connect(&PgConfig::from_url(&url).expect("valid"))
        .await
        .expect("connects");
    assert_eq!(pool.options().get_max_connections() as usize, LIMIT);

    // What the server sees, sampled from a connection outside the pool.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (admin, done, app) = (db.pool().clone(), done.clone(), app.clone());
        async move {
            let mut peak = 0_i64;
            while !done.load(Ordering::SeqCst) {
                let open: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                )
                .bind(&app)
                .fetch_one(&admin)
                .await
                .expect("pg_stat_activity");
                peak = peak.max(open);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        }
    });

    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak_in_flight = Arc::new(AtomicUsize::new(0));
    let peak_size = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..4 * LIMIT {
        let (pool, in_flight, peak_in_flight, peak_size) = (
            pool.clone(),
            in_flight.clone(),
            peak_in_flight.clone(),
            peak_size.clone(),
        );
        tasks.spawn(async move {
            for _ in 0..3 {
                let mut connection = acquire(&pool).await?;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak_in_flight.fetch_max(now, Ordering::SeqCst);
                peak_size.fetch_max(pool.size() as usize, Ordering::SeqCst);
                sqlx::query("SELECT pg_sleep(0.02)")
                    .execute(&mut *connection)
                    .await?;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            Ok::<_, Error>(())
        });
    }
    let mut finished = 0;
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("every query succeeds");
        finished += 1;
    }
    done.store(true, Ordering::SeqCst);
    let server_peak = sampler.await.expect("sampler");

    assert_eq!(finished, 4 * LIMIT);
    // The demand saturated the pool, and the pool held the line.
    assert_eq!(peak_in_flight.load(Ordering::SeqCst), LIMIT);
    assert!(peak_size.load(Ordering::SeqCst) <= LIMIT);
    assert!(
        (1..=LIMIT as i64).contains(&server_peak),
        "the server saw {server_peak} connections of a pool limited to {LIMIT}"
    );
    pool.close().await;
}

#[db_test]
async fn exhaustion_is_a_timeout_that_names_the_limit(db: TestDb) {
    let url = with_params(
        &url_for(db.name()).await,
        "connection_limit=2&pool_timeout=300ms",
    );
    let pool = connect(&PgConfig::from_url(&url).expect("valid"))
        .await
        .expect("connects");
    // Opening a connection counts against the 300 ms too, and a new one (SCRAM in a debug
    // build) can take longer than that on a loaded machine: the two to hold are opened with
    // a few tries, the exhaustion that follows is what is timed.
    let first = acquire_with_tries(&pool).await;
    let second = acquire_with_tries(&pool).await;

    let started = Instant::now();
    let error = acquire(&pool).await.expect_err("exhausted");
    let waited = started.elapsed();
    assert_eq!(error.category(), ErrorCategory::Timeout, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("no pooled connection was free within "),
        "{message}"
    );
    assert!(
        message.contains("2 of the pool's 2 connections (connection_limit) are in use"),
        "{message}"
    );
    assert!(message.contains("pool_timeout"), "{message}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A transaction on the pool reports the same.
    let error = transaction(&pool, TransactionOptions::new(), async |_tx| {
        Ok::<_, Error>(())
    })
    .await
    .expect_err("exhausted");
    assert_eq!(error.category(), ErrorCategory::Timeout, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("no pooled connection was free within ")
            && message.contains(" of the pool's 2 connections (connection_limit) are in use"),
        "{message}"
    );

    // The health check tells it from a dead server: the server answers, so it only warns.
    // Its timeout also bounds the direct connection that tells the two apart: a new
    // connection (SCRAM in a debug build) took over 300 ms on a loaded 2-core machine.
    let report = check_with(&pool, &HealthOptions::new().timeout(Duration::from_secs(1))).await;
    assert_eq!(report.status, HealthStatus::Warn, "{report:?}");
    assert_eq!(report.category, Some(ErrorCategory::Timeout));
    let output = report.output.as_deref().unwrap_or_default();
    assert!(output.starts_with("pool exhausted:"), "{output}");
    assert!(output.contains("(2 of 2 in use)"), "{output}");

    // Once a connection comes back, the pool serves again.
    drop(first);
    let mut third = acquire(&pool).await.expect("a connection came back");
    sqlx::query("SELECT 1")
        .execute(&mut *third)
        .await
        .expect("usable");
    drop((second, third));
    pool.close().await;
}

/// A pool that never reaches a server: `connect`, `acquire`, `transaction` and the health
/// check all say `Unreachable`, where sqlx alone says "pool timed out".
async fn assert_unreachable(pool: &PgPool) {
    let started = Instant::now();
    let raw = pool.acquire().await.expect_err("nobody listens");
    assert!(
        matches!(raw, sqlx::Error::PoolTimedOut),
        "sqlx alone reports a pool timeout: {raw:?}"
    );
    let error = acquire(pool).await.expect_err("nobody listens");
    assert_eq!(error.category(), ErrorCategory::Unreachable, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("cannot reach the database server: "),
        "{error}"
    );
    let error = transaction(pool, TransactionOptions::new(), async |_tx| {
        Ok::<_, Error>(())
    })
    .await
    .expect_err("nobody listens");
    assert_eq!(error.category(), ErrorCategory::Unreachable, "{error}");
    let report = check_with(
        pool,
        &HealthOptions::new().timeout(Duration::from_millis(500)),
    )
    .await;
    assert_eq!(report.status, HealthStatus::Fail, "{report:?}");
    assert_eq!(report.category, Some(ErrorCategory::Unreachable));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_unreachable_not_a_timeout() {
    let port = free_port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/app?pool_timeout=500ms");
    let config = PgConfig::from_url(&url).expect("valid");
    let started = Instant::now();
    let error = connect(&config).await.expect_err("nobody listens");
    assert_eq!(error.category(), ErrorCategory::Unreachable, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, no waiting for a timeout"
    );
    assert!(!error.to_string().contains("hunter2"));
    assert!(!format!("{error:?}").contains("hunter2"));
    let pool = connect_lazy(&config).expect("runtime");
    assert_unreachable(&pool).await;
    pool.close().await;
}

/// A TCP proxy in front of the test server, so the test can make "the server" stop.
struct Proxy {
    port: u16,
    tasks: Arc<std::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let tasks = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let accept = tokio::spawn({
            let tasks = tasks.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let upstream = upstream.clone();
                    tasks.lock().expect("tasks").spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Self {
            port,
            tasks,
            accept,
        }
    }

    /// The server "stops": the port is closed and every connection through it is cut.
    async fn stop(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks"));
        tasks.shutdown().await;
    }
}

#[db_test]
async fn a_server_that_stops_is_unreachable_not_a_timeout(db: TestDb) {
    let direct = url_for(db.name()).await;
    let proxy = Proxy::start(host_port(&direct)).await;
    let mut through = url::Url::parse(&direct).expect("a URL");
    through.set_host(Some("127.0.0.1")).expect("host");
    through.set_port(Some(proxy.port)).expect("port");
    let url = with_params(through.as_str(), "connection_limit=2&pool_timeout=500ms");
    let pool = connect(&PgConfig::from_url(&url).expect("valid"))
        .await
        .expect("connects through the proxy");
    let answer: i32 = transaction(&pool, TransactionOptions::new(), async |tx| {
        Ok::<_, Error>(sqlx::query_scalar("SELECT 1").fetch_one(&mut *tx).await?)
    })
    .await
    .expect("the server answers");
    assert_eq!(answer, 1);
    assert!(pool.num_idle() <= 2);

    proxy.stop().await;
    assert_unreachable(&pool).await;
    pool.close().await;
}

/// A connection of `pool`, whose timeout is short, with up to ten tries.
async fn acquire_with_tries(pool: &PgPool) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    let mut last = None;
    for _ in 0..10 {
        match pool.acquire().await {
            Ok(conn) => return conn,
            Err(err) => last = Some(err),
        }
    }
    panic!("no connection in ten tries: {last:?}")
}
