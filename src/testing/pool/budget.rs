//! The connection budget: how many connections the tests of every process that uses one
//! server may hold at once, so that a suite whose tests open several connections each waits
//! for room instead of being refused by the server ("too many clients").
//!
//! The budget is the server's `max_connections`, less its superuser-reserved connections
//! and what the harness keeps beside the tests ([`reserve`]: the relay's idle sessions, the
//! janitor's warm sessions, the harness's admin and template work). It is a set of slots,
//! one lock file each (`budget/<n>.lock` in the server's files); a test takes a share of
//! them, as many as it may open connections, before it leases its database, and gives them
//! back when it ends. Like the clones' leases, a slot is an exclusive, non-blocking file
//! lock, so the share of a process that was killed comes back the moment the kernel drops
//! its locks. A slot's file names its holder (pid and test), which is what a test that
//! waited too long reports.
//!
//! On an external server the budget is this machine's: other machines that share the server
//! (CI shards) have budgets of their own, so give each a part with
//! `PERSISTENCE_TEST_CONNECTIONS`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::reserve::{JANITOR_SESSIONS, RELAY_SESSIONS};
use crate::ephemeral::{BackendKind, Settings};
use crate::testing::error::HarnessError;
use crate::testing::session::Session;

/// Connections of the harness's own beside the tests' shares: a process's admin work before
/// it holds a share (the budget's size, a template built), the lock-wait watchdog.
const HARNESS_SESSIONS: u32 = 12;

/// The least budget a server with room for it gets, whatever the reserve: one test in
/// database mode on an external server (its pool and the session that owns its database).
const MIN_BUDGET: u32 = super::database::TEST_POOL_MAX + 1;

/// How long a test waits for its share before it fails, saying who holds the budget.
pub(crate) const BUDGET_WAIT: Duration = Duration::from_secs(120);

/// How often a waiting test looks for room again.
const RETRY: Duration = Duration::from_millis(20);

/// A test's share of the budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    // Held, not read: each is a locked slot.
    _slots: Vec<File>,
}

/// Takes a share of `connections` slots of the budget for `test`, waiting (up to
/// [`BUDGET_WAIT`]) while the budget is spent.
pub(crate) async fn take(
    session: &Session,
    test: &str,
    connections: u32,
) -> Result<Share, HarnessError> {
    let files = session.files();
    let size = size(session).await?;
    let wanted = connections.min(size);
    let dir = files.budget_dir();
    let started = Instant::now();
    loop {
        if let Some(share) = try_take(&dir, size, wanted, test).map_err(state_error)? {
            return Ok(share);
        }
        if started.elapsed() > BUDGET_WAIT {
            return Err(spent(&dir, size, wanted));
        }
        say_once_why_tests_wait(size);
        tokio::time::sleep(RETRY).await;
    }
}

/// Takes `wanted` free slots of `size`, all or none: a test holding part of a share while
/// it waits for the rest could keep another from ever getting a whole one.
fn try_take(dir: &Path, size: u32, wanted: u32, test: &str) -> std::io::Result<Option<Share>> {
    std::fs::create_dir_all(dir)?;
    // Processes start looking at different slots, so that they rarely try the same ones.
    let start = std::process::id() % size;
    let mut slots = Vec::with_capacity(wanted as usize);
    for i in 0..size {
        let path = dir.join(format!("{}.lock", (start + i) % size));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(err)) => return Err(err),
        }
        // Who holds it, for the message of a test that waits too long: a record of fixed
        // length written over the last one in place, since truncating a file and writing it
        // anew allocates its block again, which costs milliseconds on some disks.
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&holder_record(test))?;
        slots.push(file);
        if slots.len() == wanted as usize {
            return Ok(Some(Share { _slots: slots }));
        }
    }
    Ok(None)
}

/// The length of a slot's record of its holder.
const RECORD: usize = 256;

/// `<pid> <test>`, cut or padded with spaces to [`RECORD`] bytes, the last a newline.
fn holder_record(test: &str) -> Vec<u8> {
    let mut record = format!("{} {test}", std::process::id()).into_bytes();
    record.truncate(RECORD - 1);
    record.resize(RECORD - 1, b' ');
    record.push(b'\n');
    record
}

/// The budget's size: what the server admits less the reserve, read once per process (from
/// the file the first process wrote, or from the server).
async fn size(session: &Session) -> Result<u32, HarnessError> {
    static SIZE: OnceLock<u32> = OnceLock::new();
    if let Some(size) = SIZE.get() {
        return Ok(*size);
    }
    let settings = Settings::get().ok();
    let size = match settings.and_then(|s| s.connections) {
        Some(size) => size,
        None => {
            let (max, reserved) = server_limits(session).await?;
            sized(max, reserved, reserve(session.server.backend()))
        }
    };
    Ok(*SIZE.get_or_init(|| size))
}

/// The budget of a server that admits `max` connections, `reserved` of them for superusers,
/// when the harness keeps `reserve` beside the tests.
pub(crate) fn sized(max: u32, reserved: u32, reserve: u32) -> u32 {
    let admitted = max.saturating_sub(reserved).max(1);
    admitted
        .saturating_sub(reserve)
        .max(MIN_BUDGET.min(admitted))
}

/// The connections the harness keeps beside the tests on a server of `backend`.
pub(crate) fn reserve(backend: BackendKind) -> u32 {
    let settings = Settings::get().ok();
    let relay = cfg!(unix) && backend == BackendKind::Native && settings.is_none_or(|s| s.relay);
    let janitor = backend != BackendKind::External && settings.is_none_or(|s| s.ready_clones > 0);
    HARNESS_SESSIONS
        + if relay { RELAY_SESSIONS } else { 0 }
        + if janitor { JANITOR_SESSIONS } else { 0 }
}

/// `max_connections` and `superuser_reserved_connections` of the server: from the budget's
/// `size` file, or asked of the server and written there for the other processes.
async fn server_limits(session: &Session) -> Result<(u32, u32), HarnessError> {
    let path = session.files().budget_size();
    let parse = |text: &str| {
        let mut words = text.split_whitespace().map(str::parse::<u32>);
        match (words.next(), words.next()) {
            (Some(Ok(max)), Some(Ok(reserved))) => Some((max, reserved)),
            _ => None,
        }
    };
    let mut text = String::new();
    if File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_ok()
        && let Some(limits) = parse(&text)
    {
        return Ok(limits);
    }
    let mut admin = session.admin().await?;
    let asked: Result<(i32, i32), _> = sqlx::query_as(
        "SELECT current_setting('max_connections')::int, \
                current_setting('superuser_reserved_connections')::int",
    )
    .fetch_one(&mut *admin)
    .await;
    admin.release().await;
    let (max, reserved) = asked.map_err(HarnessError::sql("reading max_connections"))?;
    let limits = (max.max(1) as u32, reserved.max(0) as u32);
    // Written whole, then renamed into place: a reader sees all of it or nothing.
    let dir = session.files().budget_dir();
    let tmp = dir.join(format!("size.{}", std::process::id()));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&tmp, format!("{} {}\n", limits.0, limits.1)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(limits)
}

/// The error of a test that waited [`BUDGET_WAIT`] for its share: who holds the budget.
fn spent(dir: &Path, size: u32, wanted: u32) -> HarnessError {
    HarnessError::Budget {
        waited: BUDGET_WAIT,
        wanted,
        size,
        holders: holders(dir, size),
    }
}

/// The holders of the slots that are held now, as `<count> held by pid <pid> (<test>)`,
/// most first.
fn holders(dir: &Path, size: u32) -> String {
    let mut counts: Vec<(String, u32)> = Vec::new();
    for n in 0..size {
        let Ok(mut file) = File::open(dir.join(format!("{n}.lock"))) else {
            continue;
        };
        // A slot that can be locked is free (the lock is dropped with `file` at once).
        if file.try_lock_shared().is_ok() {
            continue;
        }
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        // A test's name cut in the middle of a character reads as a replacement character.
        let text = String::from_utf8_lossy(&bytes);
        let holder = match text.trim().split_once(' ') {
            Some((pid, test)) => format!("pid {pid} ({test})"),
            None => "a process that is starting".to_owned(),
        };
        match counts.iter_mut().find(|(h, _)| *h == holder) {
            Some((_, count)) => *count += 1,
            None => counts.push((holder, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<String> = counts
        .iter()
        .take(20)
        .map(|(holder, count)| format!("{count} by {holder}"))
        .collect();
    let more = counts.len().saturating_sub(shown.len());
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(", and {more} more holders"));
    }
    if text.is_empty() {
        text = "nobody now (the budget came back as the test gave up)".to_owned();
    }
    text
}

fn say_once_why_tests_wait(size: u32) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "persistence: a test waits for connections: the tests running now hold all {size} \
             of the server's connection budget; it goes on when one ends"
        );
    }
}

fn state_error(source: std::io::Error) -> HarnessError {
    HarnessError::State {
        action: "taking a share of the connection budget",
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_what_the_server_admits_less_the_reserve() {
        // The harness's own servers: 300, 3 for superusers, relay + janitor + harness.
        assert_eq!(sized(300, 3, 32 + 32 + 12), 221);
        // A small external server still runs one test at a time.
        assert_eq!(sized(20, 3, 12), 6);
        assert_eq!(sized(4, 3, 12), 1);
    }

    #[test]
    fn shares_are_whole_exclusive_and_come_back() {
        let root =
            std::env::temp_dir().join(format!("persistence-budget-test-{}", std::process::id()));
        let files = crate::ephemeral::state_dir::StateDir::new(&root).files_of("test");
        let dir = files.budget_dir();
        let first = try_take(&dir, 8, 5, "t::first").expect("io").expect("room");
        // Three slots are left: a share of five is not taken in part.
        assert!(try_take(&dir, 8, 5, "t::second").expect("io").is_none());
        let third = try_take(&dir, 8, 3, "t::third").expect("io").expect("room");
        let who = holders(&dir, 8);
        assert!(
            who.contains("5 by pid") && who.contains("(t::first)") && who.contains("(t::third)"),
            "{who}"
        );
        drop(first);
        assert!(try_take(&dir, 8, 5, "t::second").expect("io").is_some());
        drop(third);
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
