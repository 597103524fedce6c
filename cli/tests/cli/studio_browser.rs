//! `persistence studio` in a real browser (headless Chromium through chromedriver), on the
//! database of a running `persistence dev` with the fixtures loaded: the table list, `posts`,
//! a foreign key followed to its blog, a cell edited and found changed in the database; a
//! write tried with `--read-only` and without the token. Screenshots of each screen go to
//! `<target>/studio-screenshots/`. Without Chromium and chromedriver this test fails and
//! says how to install them (`ci/setup.sh` does).

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;

use fantoccini::{Client, Locator};
use persistence::ephemeral::BackendKind;
use sqlx::{Connection, PgConnection};

use crate::support::browser::{Browser, screenshot_dir};
use crate::support::cli::{cli, wait_with_timeout};
use crate::support::schema;
use crate::support::server::{backend, url_for};
use crate::support::studio::Studio;
use crate::support::tempdir::temp_dir;

/// A `persistence dev` running in the background; stopped with SIGTERM on drop (it then
/// removes its server).
struct Dev {
    child: Child,
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signals our own child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        if wait_with_timeout(&mut self.child, Duration::from_secs(60)).is_none() {
            eprintln!("persistence dev did not stop on SIGTERM: killed");
        }
    }
}

/// Starts `persistence dev` with the tests' schema; waits until it is ready.
fn start_dev(dir: &std::path::Path, state: &std::path::Path, database: &str) -> Dev {
    let migrations = schema::migrations_arg();
    let mut command = cli(
        dir,
        &["dev", "--source", &migrations, "--database", database],
    );
    command
        .env("PERSISTENCE_STATE_DIR", state)
        .stderr(std::process::Stdio::inherit());
    let mut child = command.spawn().expect("start persistence dev");
    let stdout = child.stdout.take().expect("stdout");
    let mut dev = Dev { child };
    let mut seen = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("dev output");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("ready:") {
            return dev;
        }
    }
    let _ = dev.child.wait();
    panic!("persistence dev did not get ready: {seen}");
}

async fn load_fixtures(url: &str) {
    let mut connection = PgConnection::connect(url).await.expect("connect to dev");
    let mut tx = connection.begin().await.expect("begin");
    for name in ["users", "blogs", "posts"] {
        let path = schema::fixture(name);
        let sql = std::fs::read_to_string(&path).expect("fixture");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    tx.commit().await.expect("commit");
}

/// POSTs a form from the page's own origin with `fetch`; the status and body.
async fn post_from_page(client: &Client, action: &str, body: &str) -> (u64, String) {
    let reply = client
        .execute_async(
            "const [action, body, done] = arguments; \
             fetch(action, { method: 'POST', body, \
               headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }) \
             .then(r => r.text().then(t => done([r.status, t])));",
            vec![action.into(), body.into()],
        )
        .await
        .expect("fetch from the page");
    (
        reply[0].as_u64().expect("status"),
        reply[1].as_str().expect("body").to_owned(),
    )
}

async fn click_link(browser: &Browser, text: &str) {
    let link = browser
        .client
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
    browser.click_to_navigate(link, text).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browse_follow_edit_and_the_refused_writes_in_a_browser() {
    let started = std::time::Instant::now();
    let dir = temp_dir("studio-browser");
    let state = dir.path().join("state");
    let external = backend().await == BackendKind::External;
    // On a server of its own (a private state directory) the default name is fine; an
    // external server is shared, so the database gets a name of its own there.
    let database = if external {
        format!("persistence_studio_browser_{}", std::process::id())
    } else {
        "persistence_dev".to_owned()
    };
    let dev = start_dev(dir.path(), &state, &database);
    let dev_url = if external {
        url_for(&database).await
    } else {
        let server = persistence::ephemeral::state_dir::StateDir::new(state.join("dev"))
            .live_server()
            .expect("the dev server is recorded");
        server.owner_url(&database)
    };
    load_fixtures(&dev_url).await;

    // No URL given: the studio opens the dev database (an external server is named).
    let state_env = state.to_str().expect("UTF-8 path");
    let url_args: Vec<&str> = if external {
        vec!["--database-url", &dev_url]
    } else {
        vec![]
    };
    let studio = Studio::start(
        dir.path(),
        &url_args,
        &[("PERSISTENCE_STATE_DIR", state_env)],
    );
    assert!(
        studio.output().contains(&format!("/{database}")),
        "{}",
        studio.output()
    );

    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&studio.url()).await.expect("open the studio");
    assert_eq!(
        client.current_url().await.expect("url").query(),
        None,
        "the token left the address bar"
    );
    let tables = browser.text().await;
    assert!(
        tables.contains("Tables") && tables.contains("revisions"),
        "{tables}"
    );
    browser.screenshot("01-tables").await;

    click_link(&browser, "posts").await;
    let posts = browser.text().await;
    assert!(posts.contains("Notes on the Analytical Engine"), "{posts}");
    assert!(posts.contains("Rows 1–2 of 2"), "{posts}");
    browser.screenshot("02-posts").await;

    // Post 1's blog_id leads to blog 1.
    let first_row = client
        .find(Locator::Css("table.rows tbody tr"))
        .await
        .expect("a row");
    let blog_link = first_row
        .find(Locator::Css("a.fk[href*='t=blogs']"))
        .await
        .expect("a link to the blog");
    browser
        .click_to_navigate(blog_link, "follow the foreign key")
        .await;
    let blog = browser.text().await;
    assert!(blog.contains("public.blogs 1"), "{blog}");
    for value in ["ada-notes", "Ada's Notes"] {
        let inputs = client
            .find_all(Locator::Css("form.edit input"))
            .await
            .expect("inputs");
        let mut found = false;
        for input in inputs {
            if input.prop("value").await.expect("value").as_deref() == Some(value) {
                found = true;
            }
        }
        assert!(found, "the blog's {value:?} is in its form");
    }
    assert!(blog.contains("public.posts (blog_id): 2 row(s)"), "{blog}");
    browser.screenshot("03-blog").await;

    // Back to posts, open post 1, edit its title.
    client.back().await.expect("back");
    let open_link = client
        .find(Locator::Css("table.rows tbody tr a.open"))
        .await
        .expect("open link");
    browser.click_to_navigate(open_link, "open post 1").await;
    let label = client
        .find(Locator::XPath("//label[text()='title']"))
        .await
        .expect("the title's label");
    let id = label.attr("for").await.expect("for").expect("a for");
    let input = client
        .find(Locator::Id(&id))
        .await
        .expect("the title's input");
    input.clear().await.expect("clear");
    input
        .send_keys("About Ada (edited in a browser)")
        .await
        .expect("type");
    let save = client
        .find(Locator::Css("button[name=save]"))
        .await
        .expect("save button");
    browser.click_to_navigate(save, "save").await;
    let saved = browser.text().await;
    assert!(saved.contains("Saved."), "{saved}");
    browser.screenshot("04-row-saved").await;
    let mut connection = PgConnection::connect(&dev_url).await.expect("connect");
    let title: String = sqlx::query_scalar("SELECT title FROM posts WHERE id = 1")
        .fetch_one(&mut connection)
        .await
        .expect("title");
    assert_eq!(title, "About Ada (edited in a browser)");

    // --read-only: no form, and a write sent anyway is refused.
    let read_only = Studio::start(
        dir.path(),
        &[url_args.as_slice(), &["--read-only"]].concat(),
        &[("PERSISTENCE_STATE_DIR", state_env)],
    );
    client.goto(&read_only.url()).await.expect("open");
    click_link(&browser, "posts").await;
    let open_link = client
        .find(Locator::Css("table.rows tbody tr a.open"))
        .await
        .expect("open link");
    browser.click_to_navigate(open_link, "open post 1").await;
    assert!(
        client
            .find_all(Locator::Css("form.edit"))
            .await
            .expect("find")
            .is_empty(),
        "no edit form when read-only"
    );
    assert!(browser.text().await.contains("read-only"));
    browser.screenshot("05-read-only-row").await;
    let (status, body) =
        post_from_page(client, "/update", "s=public&t=posts&c3=title&v3=nope").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("no writes: started with --read-only"),
        "{body}"
    );

    // Without the token: nothing to see, and no write.
    client
        .delete_all_cookies()
        .await
        .expect("forget the cookie");
    let base = format!("http://{}/", studio.address);
    client.goto(&base).await.expect("open without the token");
    let refused = browser.text().await;
    assert!(refused.contains("Token needed"), "{refused}");
    assert!(!refused.contains("revisions"));
    browser.screenshot("06-no-token").await;
    let (status, _) = post_from_page(client, "/update", "s=public&t=posts&c3=title&v3=nope").await;
    assert_eq!(status, 401);
    let title: String = sqlx::query_scalar("SELECT title FROM posts WHERE id = 1")
        .fetch_one(&mut connection)
        .await
        .expect("title");
    assert_eq!(title, "About Ada (edited in a browser)");
    let _ = connection.close().await;

    browser.close().await;
    drop(read_only);
    drop(studio);
    drop(dev);
    eprintln!(
        "browser test: {} ms; screenshots in {}",
        started.elapsed().as_millis(),
        screenshot_dir().display()
    );
}
