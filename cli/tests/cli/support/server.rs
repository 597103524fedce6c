//! The test server as the tests see it: usable URLs, its backend, ports nobody listens on,
//! and waiting for a condition or for a server to go.

use std::time::{Duration, Instant};

use persistence::ephemeral::BackendKind;

/// A URL with credentials that works for `database` on the test server: the harness's
/// owner URL (with the server's generated password), or for an external server
/// `TEST_DATABASE_URL` with its password, pointed at `database`.
pub async fn url_for(database: &str) -> String {
    let server = persistence::ephemeral::server().await.expect("test server");
    if server.backend() == BackendKind::External
        && let Ok(external) = std::env::var("TEST_DATABASE_URL")
    {
        let mut url = url::Url::parse(&external).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{database}"));
        return url.to_string();
    }
    server.owner_url(database)
}

/// The test server's backend.
pub async fn backend() -> BackendKind {
    persistence::ephemeral::server()
        .await
        .expect("test server")
        .backend()
}

/// A loopback port that was free a moment ago: connecting to it is refused at once.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// Waits until `condition` holds, up to `limit`; `false` if it never did.
pub async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 30 s) until the server recorded in `state_dir` is gone.
pub fn wait_for_server_to_go(state_dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state_dir.join("server.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server of {} did not stop",
            state_dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
