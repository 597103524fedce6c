//! A `persistence studio` running in the background (killed on drop), a small HTTP/1.1
//! client with the studio's cookie, and the forms of a page.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cli::cli;

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

/// The text `sql` (a query of one value with the parameter `$1` = `id`) reads from `db`:
/// what a write through the studio left in the database.
pub async fn text_of(db: &persistence::testing::TestDb, sql: &str, id: i64) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The page of table `table` in schema `public`.
pub fn table_page(table: &str) -> String {
    path("/table", &[("s", "public"), ("t", table)])
}

/// The page of the row of `public.table` whose `id` is `id`.
pub fn row_page(table: &str, id: &str) -> String {
    path(
        "/row",
        &[("s", "public"), ("t", table), ("c", "id"), ("k", id)],
    )
}

/// `path?name=value&...`, encoded.
pub fn path(path: &str, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}
