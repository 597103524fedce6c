//! A headless Chromium driven through chromedriver (both killed on drop), and where its
//! screenshots go.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::server::free_port;

/// The target directory (`CARGO_TARGET_DIR`, else the one holding this test binary).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test binary");
    // <target>/<profile>/deps/<binary>
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Where the browser tests put their screenshots: `<target>/studio-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("studio-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// A chromedriver of this test with a headless Chromium session. Both go on drop (the
/// driver runs in a process group of its own, browser included, which is killed whole).
pub struct Browser {
    driver: Child,
    pub client: fantoccini::Client,
}

/// The first of `names` found on PATH or in /usr/bin.
fn program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Fails (never skips) when either is
    /// missing: `ci/setup.sh` installs them.
    pub async fn start() -> Self {
        let driver_path = program(&["chromedriver"]).unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: the studio's browser tests need Chromium and \
                 chromedriver (`apt-get install chromium chromium-driver`, as ci/setup.sh does)"
            )
        });
        let chromium =
            program(&["chromium", "chromium-browser", "google-chrome"]).unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed: the studio's browser tests need it \
                     (`apt-get install chromium chromium-driver`, as ci/setup.sh does)"
                )
            });
        let port = free_port();
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("start chromedriver");
        let mut browser_args = vec![
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
        ];
        if running_as_root() {
            browser_args.push("--no-sandbox");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "args": browser_args, "binary": chromium }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut driver = Some(driver);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(error) if std::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    if let Some(mut driver) = driver.take() {
                        kill_group(&mut driver);
                    }
                    panic!("no WebDriver session with {}: {error}", chromium.display());
                }
            }
        };
        Self {
            driver: driver.take().expect("driver"),
            client,
        }
    }

    /// Saves a screenshot as `<target>/studio-screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Clicks `element`, which leads to another page, and returns once that page has
    /// replaced the current one. WebDriver's click returns when the click is dispatched, not
    /// when the navigation it starts is done: reading the page right after it can find the
    /// old page's elements, or find them gone stale midway.
    pub async fn click_to_navigate(&self, element: fantoccini::elements::Element, what: &str) {
        let old = self
            .client
            .find(fantoccini::Locator::Css("html"))
            .await
            .expect("the current page");
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        // A bound on the wait, not a timing assertion: a click that leads nowhere fails
        // here instead of hanging the run.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match old.tag_name().await {
                Err(error) if error.is_stale_element_reference() => break,
                Ok(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("{what}: the click led to no new page ({other:?})"),
            }
        }
        self.client
            .wait()
            .for_element(fantoccini::Locator::Css("body"))
            .await
            .unwrap_or_else(|e| panic!("{what}: the new page has no body: {e}"));
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client
            .find(fantoccini::Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("text")
    }

    /// Ends the session (the browser exits), then the driver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Chromium refuses to run as root without `--no-sandbox` (CI runs as root).
fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Kills the driver and everything in its process group (the browser).
fn kill_group(driver: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(driver.id()) {
        // SAFETY: signals the process group this test created for the driver.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = driver.kill();
    let _ = driver.wait();
}
