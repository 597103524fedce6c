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

/// `url` with more query parameters.
pub fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A loopback port that was free a moment ago: connecting to it is refused at once.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// `host:port` of a URL.
pub fn host_port(url: &str) -> (String, u16) {
    let url = url::Url::parse(url).expect("a URL");
    (
        url.host_str().expect("a host").to_owned(),
        url.port().unwrap_or(5432),
    )
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

/// A native server of a test's own, in a private state directory and with no idle grace
/// (a developer's `persistence dev` server, a CI service): it stops once this handle is
/// dropped, which waits until it is gone.
pub struct PrivateServer {
    server: Option<persistence::ephemeral::Server>,
    state: super::tempdir::TempDir,
}

impl PrivateServer {
    /// Starts it, its state directory named after `tag`.
    pub async fn start(tag: &str) -> Self {
        use persistence::ephemeral::{IdleGrace, Settings, server_with};
        let state = super::tempdir::temp_dir(tag);
        let mut settings = Settings::from_env().expect("settings");
        settings.backend = BackendKind::Native;
        settings.external_url = None;
        settings.state_dir = state.path().to_owned();
        settings.idle_grace = IdleGrace::After(Duration::ZERO);
        let server = server_with(settings).await.expect("a native server");
        Self {
            server: Some(server),
            state,
        }
    }

    /// The server, running until this handle is dropped.
    pub fn server(&self) -> &persistence::ephemeral::Server {
        self.server.as_ref().expect("running until dropped")
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // The last handle of this process: the server's supervisor stops it and deletes its
        // data once the idle grace (none) has passed.
        drop(self.server.take());
        wait_for_server_to_go(self.state.path());
    }
}
