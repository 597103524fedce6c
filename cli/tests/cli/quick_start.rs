//! The quick start of `cli/README.md`, followed as a new user would: its commands, read from
//! the README itself, run in a fresh `cargo new` crate outside this workspace with the built
//! `persistence`; what `persistence dev` prints matches the README's sample output (numbers
//! aside), and `migrate status` in "another terminal" finds the running database.

use std::path::Path;

use crate::support::cargo::without_cargo_test_env;
use crate::support::cli::texts;
use crate::support::tempdir::temp_dir;
use crate::support::user::user_cli;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("cli/README.md")
}

/// The code blocks of `lang` in the README's section `heading`, in order.
fn blocks<'a>(readme: &'a str, heading: &str, lang: &str) -> Vec<Vec<&'a str>> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?} in the README"));
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("```{lang}") {
            blocks.push(lines.by_ref().take_while(|l| l.trim() != "```").collect());
        }
    }
    blocks
}

/// A README command without its comment, split into words.
fn words(line: &str) -> Vec<&str> {
    line.split(" #")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

/// `line` with every number (`15.18`, `127.0.0.1`, `40481`) replaced by `N`, and a URL's
/// password (generated per server) by `PASSWORD`.
fn shape(line: &str) -> String {
    let line = &mask_password(line);
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    // The sample names the native backend; a docker run prints the same with docker.
    out.replace("(docker backend)", "(native backend)")
}

/// `postgres://user:secret@host` -> `postgres://user:PASSWORD@host`.
fn mask_password(line: &str) -> String {
    let Some(start) = line.find("://") else {
        return line.to_owned();
    };
    let rest = &line[start + 3..];
    match (rest.find(':'), rest.find('@')) {
        (Some(colon), Some(at)) if colon < at && !rest[..at].contains('/') => {
            format!(
                "{}://{}:PASSWORD{}",
                &line[..start],
                &rest[..colon],
                &rest[at..]
            )
        }
        _ => line.to_owned(),
    }
}

#[test]
fn shapes_ignore_numbers_only() {
    assert_eq!(
        shape("DATABASE_URL=postgres://postgres@127.0.0.1:40481/persistence_dev"),
        shape("DATABASE_URL=postgres://postgres@127.0.0.1:5/persistence_dev")
    );
    assert_eq!(
        shape("DATABASE_URL=postgres://postgres:glQV7y@127.0.0.1:40481/persistence_dev"),
        shape("DATABASE_URL=postgres://postgres:q8Zk@127.0.0.1:5/persistence_dev")
    );
    assert_ne!(
        shape("DATABASE_URL=postgres://postgres:q8Zk@127.0.0.1:5/persistence_dev"),
        shape("DATABASE_URL=postgres://postgres@127.0.0.1:5/persistence_dev")
    );
    assert_ne!(
        shape("applied 1 migration(s), 1 in all, from migrations"),
        shape("applied 1 migration(s), 1 in all, from db/migrations")
    );
    assert_eq!(
        words("persistence dev   # a comment # more"),
        ["persistence", "dev"]
    );
}

#[test]
fn the_quick_start_works_in_a_fresh_crate_as_the_readme_says() {
    use crate::support::user::Serving;

    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        eprintln!("skipped: the quick start's output is that of a server of its own");
        return;
    }
    let readme = readme();
    let commands = &blocks(&readme, "Quick start", "sh");
    let samples = &blocks(&readme, "Quick start", "text");
    assert!(
        commands.len() >= 2 && samples.len() >= 2,
        "{commands:?} {samples:?}"
    );

    let scratch = temp_dir("quick-start");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut dir = scratch.path().to_path_buf();
    let mut dev = None;
    for line in &commands[0] {
        for command in line.split(" && ") {
            let words = words(command);
            match words.as_slice() {
                ["cargo", args @ ..] => {
                    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
                    let mut cargo = std::process::Command::new(cargo);
                    without_cargo_test_env(&mut cargo);
                    let output = cargo
                        .args(args)
                        .current_dir(&dir)
                        .output()
                        .expect("cargo runs");
                    let (stdout, stderr) = texts(&output);
                    assert!(output.status.success(), "{command}: {stdout}{stderr}");
                }
                ["cd", to] => dir = dir.join(to),
                ["persistence", "dev", ..] => {
                    dev = Some(Serving::start(user_cli(&dir, &tmp, &words[1..])));
                }
                ["persistence", args @ ..] => {
                    let output = user_cli(&dir, &tmp, args).output().expect("runs");
                    let (stdout, stderr) = texts(&output);
                    assert!(output.status.success(), "{command}: {stdout}{stderr}");
                    assert_eq!(stderr, "", "{command}");
                    // `migrate add` names the pair it made: the README says to edit them.
                    for created in stdout.lines().filter_map(|l| l.strip_prefix("created ")) {
                        let sql = if created.ends_with(".up.sql") {
                            "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\n"
                        } else if created.ends_with(".down.sql") {
                            "DROP TABLE notes;\n"
                        } else {
                            continue;
                        };
                        std::fs::write(dir.join(created), sql).expect("edit the migration");
                    }
                }
                other => panic!("a quick-start command this test does not know: {other:?}"),
            }
        }
    }
    let dev = dev.expect("the quick start runs `persistence dev`");
    assert_eq!(
        dev.printed.iter().map(|l| shape(l)).collect::<Vec<_>>(),
        samples[0].iter().map(|l| shape(l)).collect::<Vec<_>>(),
        "what `persistence dev` printed, against the README's sample"
    );
    assert!(
        dir.join("build.rs").is_file(),
        "init wrote the build script"
    );

    // "In another terminal, in the same crate": the commands find the running database.
    let status = commands[1]
        .iter()
        .map(|line| words(line))
        .find(|words| words.starts_with(&["persistence", "migrate", "status"]))
        .expect("the README shows `persistence migrate status`");
    let output = user_cli(&dir, &tmp, &status[1..]).output().expect("runs");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.ends_with("1 applied, 0 pending, 0 edited, 0 failed, 0 unknown\n"),
        "{stdout}"
    );

    let (exit, rest) = dev.stop();
    assert_eq!(exit.code(), Some(0), "{rest:?}");
    assert_eq!(
        rest.iter().map(|l| shape(l)).collect::<Vec<_>>(),
        samples[1].iter().map(|l| shape(l)).collect::<Vec<_>>(),
        "what Ctrl-C (here SIGTERM) printed, against the README's sample"
    );
}
