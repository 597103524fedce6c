//! Helpers of the `persistence studio` tests: the command running in the background (killed
//! on drop), a small HTTP/1.1 client with the studio's cookie, the forms of a page, and a
//! headless Chromium driven through chromedriver (both killed on drop).
//!
//! Needs `mod core_support;` beside it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core_support::cli;

/// A running `persistence studio`.
pub struct Studio {
    child: Child,
    /// `127.0.0.1:port`.
    pub address: String,
    pub port: u16,
    pub token: String,
    /// Everything printed so far on stdout and stderr.
    output: Arc<Mutex<String>>,
}

impl Studio {
    /// Starts `persistence studio --port 0 ARGS` in `dir` and waits for its URL.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["studio", "--port", "0"];
        all.extend(args);
        let mut command = cli(dir, &all);
        for (name, value) in env {
            command.env(name, value);
        }
        Self::spawn(command)
    }

    /// Spawns a prepared command and waits (up to 30 s) for the `open http://...` line.
    pub fn spawn(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn persistence studio");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines, received) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = output.clone();
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    output
                        .lock()
                        .expect("output")
                        .push_str(&format!("{line}\n"));
                    let _ = lines.send(line);
                }
            });
        }
        drop(lines);
        let url = loop {
            match received.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("open ") {
                        break url.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "persistence studio printed no URL: {}",
                        output.lock().expect("output")
                    );
                }
            }
        };
        let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let token = parsed
            .query_pairs()
            .find(|(n, _)| n == "token")
            .map(|(_, v)| v.into_owned())
            .expect("a token in the URL");
        let port = parsed.port().expect("a port");
        Self {
            child,
            address: format!("{}:{port}", parsed.host_str().expect("a host")),
            port,
            token,
            output,
        }
    }

    /// The URL the command printed.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.address, self.token)
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// The cookie the page hands out for the token (checked on the way).
    pub fn login(&self) -> String {
        let reply = request(
            &self.address,
            "GET",
            &format!("/?token={}", self.token),
            None,
            None,
        );
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert_eq!(reply.header("location"), Some("/"));
        let cookie = reply.header("set-cookie").expect("a cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        cookie.split(';').next().expect("name=value").to_owned()
    }

    /// GET with the cookie.
    pub fn get(&self, path: &str) -> Reply {
        let cookie = self.login();
        request(&self.address, "GET", path, Some(&cookie), None)
    }

    /// POST of a form with the cookie.
    pub fn post(&self, path: &str, form: &[(String, String)]) -> Reply {
        let cookie = self.login();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        request(&self.address, "POST", path, Some(&cookie), Some(&body))
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a connection of its own.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(address).expect("connect to the studio");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = form.unwrap_or_default();
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("receive");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP reply");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `&amp;` and friends back to text.
pub fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The hidden inputs of the page's form posting to `action`, in order.
pub fn hidden_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let marker = format!("action=\"{action}\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no form for {action} in the page: {page}"));
    let end = page[start..].find("</form>").expect("form end") + start;
    page[start..end]
        .split("<input ")
        .skip(1)
        .filter(|tag| tag.starts_with("type=\"hidden\""))
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            Some((
                attribute(&format!(" {tag}"), "name")?,
                attribute(&format!(" {tag}"), "value")?,
            ))
        })
        .collect()
}

/// The index `i` of the form field `v<i>` for `column` (from the hidden `c<i>` inputs).
pub fn field_of(fields: &[(String, String)], column: &str) -> String {
    let (name, _) = fields
        .iter()
        .find(|(n, v)| n.starts_with('c') && n[1..].parse::<usize>().is_ok() && v == column)
        .unwrap_or_else(|| panic!("no field for column {column}: {fields:?}"));
    format!("v{}", &name[1..])
}

/// `path?name=value&...`, encoded.
pub fn path(path: &str, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}

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
        let port = crate::core_support::free_port();
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
        #[cfg(unix)]
        if nix_is_root() {
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

#[cfg(unix)]
fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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
