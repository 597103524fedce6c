//! `persistence studio` safety: every request needs the printed token (401 without, 403 with
//! a wrong one), writes also need the page's anti-forgery value, it listens on 127.0.0.1
//! only, and the database password shows nowhere: not in pages, errors or its output.

use persistence::db_test;
use persistence::ephemeral::BackendKind;
use persistence::testing::TestDb;

use crate::support::cli::{cli, texts};
use crate::support::password::with_checked_password;
use crate::support::server::{backend, url_for};
use crate::support::studio::{Studio, field_of, hidden_fields, path, request, table_page, text_of};
use crate::support::tempdir::temp_dir;

async fn email_of(db: &TestDb, id: i64) -> String {
    text_of(db, "SELECT email FROM users WHERE id = $1", id).await
}

/// `GRANT` (`to` = `TO`) or `REVOKE` (`FROM`) all privileges on the tables of `public` for
/// the role `user`.
async fn tables_privileges(pool: &sqlx::PgPool, verb: &str, to: &str, user: &str) {
    let sql = format!("{verb} ALL ON ALL TABLES IN SCHEMA public {to} \"{user}\"");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{verb}: {e}"));
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users")
)]
async fn requests_without_the_token_are_refused(db: TestDb) {
    let dir = temp_dir("studio-auth");
    let url = url_for(db.name()).await;
    let studio = Studio::start(dir.path(), &["--database-url", &url], &[]);
    let users = table_page("users");

    for page in ["/", users.as_str(), "/row?s=public&t=users&c=id&k=1"] {
        let reply = request(&studio.address, "GET", page, None, None);
        assert_eq!(reply.status, 401, "{page} without a token: {}", reply.body);
        assert!(
            reply
                .body
                .contains("Open the URL that `persistence studio` printed")
        );
        assert!(
            !reply.body.contains("ada@example.com"),
            "no data without the token"
        );
    }
    let wrong = request(&studio.address, "GET", "/?token=0123", None, None);
    assert_eq!(wrong.status, 403, "a wrong token in the URL");
    let cookie = format!("persistence_studio_{}=0123", studio.port);
    let wrong = request(&studio.address, "GET", &users, Some(&cookie), None);
    assert_eq!(wrong.status, 403, "a wrong cookie");
    // A cookie for another studio (another port) is not ours.
    let other = format!("persistence_studio_1={}", studio.token);
    let reply = request(&studio.address, "GET", &users, Some(&other), None);
    assert_eq!(reply.status, 401);

    // The token in the URL becomes a cookie, and the URL loses it.
    let cookie = studio.login();
    let reply = request(&studio.address, "GET", &users, Some(&cookie), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("ada@example.com"));

    // A write without the token is refused before anything else.
    let row = studio.get("/row?s=public&t=users&c=id&k=1");
    let mut form = hidden_fields(&row.body, "/update");
    form.push((field_of(&form, "email"), "nobody@example.com".to_owned()));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let reply = request(&studio.address, "POST", "/update", None, Some(&body));
    assert_eq!(reply.status, 401);
    assert_eq!(email_of(&db, 1).await, "ada@example.com");
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users")
)]
async fn writes_need_the_pages_anti_forgery_value(db: TestDb) {
    let dir = temp_dir("studio-csrf");
    let url = url_for(db.name()).await;
    let studio = Studio::start(dir.path(), &["--database-url", &url], &[]);
    let row = studio.get("/row?s=public&t=users&c=id&k=2");
    let form = hidden_fields(&row.body, "/update");
    let email = field_of(&form, "email");
    let csrf = form
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.clone())
        .expect("the form carries an anti-forgery value");

    let change = |csrf: Option<&str>| {
        let mut fields: Vec<(String, String)> =
            form.iter().filter(|(n, _)| n != "csrf").cloned().collect();
        if let Some(csrf) = csrf {
            fields.push(("csrf".to_owned(), csrf.to_owned()));
        }
        fields.push((email.clone(), "forged@example.com".to_owned()));
        fields
    };
    // Another last character (a value that already ends in `0` stays itself with a `0`).
    let last = if csrf.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &csrf[..csrf.len() - 1]);
    assert_ne!(tampered, csrf);
    for (what, value) in [("none", None), ("tampered", Some(tampered.as_str()))] {
        let reply = studio.post("/update", &change(value));
        assert_eq!(reply.status, 403, "{what}: {}", reply.body);
        assert!(reply.body.contains("anti-forgery value"), "{}", reply.body);
        assert_eq!(email_of(&db, 2).await, "grace@example.com", "{what}");
    }
    // Another studio's value is not this one's.
    let other = Studio::start(dir.path(), &["--database-url", &url], &[]);
    let other_form = hidden_fields(&other.get("/row?s=public&t=users&c=id&k=2").body, "/update");
    let other_csrf = &other_form
        .iter()
        .find(|(n, _)| n == "csrf")
        .expect("csrf")
        .1;
    let reply = studio.post("/update", &change(Some(other_csrf)));
    assert_eq!(reply.status, 403);

    let reply = studio.post("/update", &change(Some(&csrf)));
    assert_eq!(reply.status, 303, "with the page's value: {}", reply.body);
    assert_eq!(email_of(&db, 2).await, "forged@example.com");
}

#[db_test(isolation = "database", migrations = "tests/cli/migrations")]
async fn it_listens_on_loopback_only(db: TestDb) {
    let dir = temp_dir("studio-bind");
    let url = url_for(db.name()).await;
    let studio = Studio::start(dir.path(), &["--database-url", &url], &[]);
    assert!(
        studio.address.starts_with("127.0.0.1:"),
        "{}",
        studio.address
    );

    // The machine's own non-loopback address (the one a packet out would leave from).
    let outward = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:9")?;
            socket.local_addr()
        })
        .map(|address| address.ip());
    if let Ok(ip) = outward
        && !ip.is_loopback()
        && !ip.is_unspecified()
    {
        let reached = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::new(ip, studio.port),
            std::time::Duration::from_secs(2),
        );
        assert!(reached.is_err(), "the studio answered on {ip}");
    }
    #[cfg(target_os = "linux")]
    {
        // What `ss -ltn` shows: every listening socket on the port is 127.0.0.1's.
        let port = format!(":{:04X}", studio.port);
        let mut listening = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() > 3 && fields[3] == "0A" && fields[1].ends_with(&port) {
                    listening.push(fields[1].to_owned());
                }
            }
        }
        assert_eq!(
            listening,
            [format!("0100007F{port}")],
            "listening sockets on the studio's port"
        );
    }
}

#[db_test(
    isolation = "database",
    migrations = "tests/cli/migrations",
    fixtures("users")
)]
async fn the_password_shows_nowhere(db: TestDb) {
    let dir = temp_dir("studio-password");
    let pool = db.pool().clone();
    with_checked_password(db.name(), |urls| async move {
        let parsed = url::Url::parse(&urls.right).expect("URL");
        let password = parsed.password().expect("a password").to_owned();
        // The role of its own may read and write the tables (an external server's role
        // owns them already).
        let own_role = backend().await != BackendKind::External;
        if own_role {
            tables_privileges(&pool, "GRANT", "TO", parsed.username()).await;
        }
        let studio = Studio::start(dir.path(), &["--database-url", &urls.right], &[]);
        let mut seen = Vec::new();
        for page in [
            "/".to_owned(),
            table_page("users"),
            path(
                "/table",
                &[
                    ("s", "public"),
                    ("t", "users"),
                    ("fc", "id"),
                    ("fo", "eq"),
                    ("fv", "x"),
                ],
            ),
            "/row?s=public&t=users&c=id&k=1".to_owned(),
            "/row?s=public&t=nope&c=id&k=1".to_owned(),
            "/new?s=public&t=users".to_owned(),
        ] {
            let reply = studio.get(&page);
            seen.push(reply.body);
        }
        // A write the server refuses (a duplicate e-mail) shows the server's message.
        let row = studio.get("/row?s=public&t=users&c=id&k=2");
        let mut form = hidden_fields(&row.body, "/update");
        form.push((field_of(&form, "email"), "ada@example.com".to_owned()));
        let refused = studio.post("/update", &form);
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused.body.contains("duplicate key value"),
            "{}",
            refused.body
        );
        seen.push(refused.body);
        seen.push(studio.output());
        let output = studio.output();
        assert!(
            output.contains(":***@"),
            "the URL is shown masked: {output}"
        );
        // On an external server the role is the URL's own (`postgres:postgres` in CI): its
        // password is also a user and a database name, so it is looked for where a URL
        // would put it. A role of its own has a random password, found anywhere.
        let leaked = |text: &str| {
            if own_role {
                text.contains(&password)
            } else {
                text.contains(&format!(":{password}@"))
            }
        };
        for text in &seen {
            assert!(!leaked(text), "the password leaked: {text}");
        }
        drop(studio);

        // A wrong password: one line on stderr, without it.
        let output = cli(
            dir.path(),
            &["studio", "--port", "0", "--database-url", &urls.wrong],
        )
        .output()
        .expect("run studio");
        let (stdout, stderr) = texts(&output);
        assert!(!output.status.success());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        for text in [&stdout, &stderr] {
            assert!(!text.contains(urls.wrong_password), "{text}");
        }
        // So that the role can be dropped again.
        if own_role {
            tables_privileges(&pool, "REVOKE", "FROM", parsed.username()).await;
        }
    })
    .await;
}
