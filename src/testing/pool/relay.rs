//! The relay: warm server sessions for the processes of a `cargo nextest run`.
//!
//! Under nextest every test is a process of its own, and its first query would wait for a
//! new PostgreSQL session: a backend forked and initialized (2 to 5 ms on a 2-core machine),
//! whose caches of the catalog are cold (its first statements run several times slower).
//! So the server's supervisor, which outlives the test processes, keeps sessions open and
//! hands them out: a test process connects to the relay's unix socket instead of the
//! server's, the relay answers its startup at once with a session it keeps for that database
//! (or opens one), and passes every message on both ways. When the process disconnects, the
//! relay rolls back what the session left open, discards its state (`DISCARD ALL`: settings,
//! prepared statements, listens, temporary tables, advisory locks), and keeps it, caches warm,
//! for the next process that asks for the same database with the same startup parameters
//! (its `application_name` aside: each test's connections carry the test's name, which the
//! session takes when it is handed over).
//!
//! A test cannot tell: it gets a session that looks fresh in every way but its speed. Its
//! `application_name` is the one it asked for; an idle session of the relay's is named
//! [`RELAY_APPLICATION`], so that the janitor, the kept databases' rename and
//! `pg_stat_activity` readers can tell it from a test's.
//!
//! Only for a native server, reached over its unix socket without a password (its socket
//! directory, like the relay's, is its owner's alone); processes find the relay by the lock
//! it holds ([`running`]).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

use crate::ephemeral::state_dir::ServerFiles;
use crate::testing::sql::RELAY_APPLICATION;
use crate::testing::sql::protocol::{
    self, CANCEL_REQUEST, GSSENC_REQUEST, Messages, SSL_REQUEST, query,
};

/// Idle sessions the relay keeps, all databases together: one per clone for as many clones
/// as tests run at once, up to the part of the server's `max_connections` that the tests'
/// connection budget leaves to the relay.
const MAX_IDLE: usize = super::reserve::RELAY_SESSIONS as usize;

/// How long a session's clean-up may take before the session is dropped instead.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// What the relay says before the client's first statement: its idle name goes for the one
/// the client's startup asked for (none: the session's own default).
fn hand_over(client_name: Option<&str>) -> Vec<u8> {
    match client_name {
        Some(name) => query(&format!(
            "SET application_name = '{}'",
            name.replace('\'', "''")
        )),
        None => query("RESET application_name"),
    }
}

/// A startup packet, split into what keys the relay's sessions (everything but the
/// `application_name`, which a session takes at its hand-over) and that name.
struct Startup {
    /// The packet without the name: what a kept session was opened with.
    key: Vec<u8>,
    name: Option<String>,
}

impl Startup {
    fn parse(packet: &[u8]) -> Self {
        // Length (4), protocol version (4), then `name\0value\0` pairs and a final `\0`.
        let mut fields = packet.get(8..).unwrap_or_default().split(|&b| b == 0);
        let mut kept: Vec<u8> = packet.get(4..8).unwrap_or_default().to_vec();
        let mut name = None;
        while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
            if key.is_empty() {
                break;
            }
            if key == b"application_name" {
                name = Some(String::from_utf8_lossy(value).into_owned());
                continue;
            }
            for part in [key, value] {
                kept.extend_from_slice(part);
                kept.push(0);
            }
        }
        kept.push(0);
        let mut key = ((kept.len() + 4) as i32).to_be_bytes().to_vec();
        key.extend(kept);
        Self { key, name }
    }
}

/// What a session that a client left is cleaned with, one statement per message (`DISCARD
/// ALL` cannot run in the implicit transaction of a multi-statement query): a `Sync` ends an
/// extended-protocol exchange the client left half sent, `ROLLBACK` its transaction, `DISCARD
/// ALL` everything else of its session, and the idle name comes last (`DISCARD ALL` resets
/// it). The `SET`'s completion, then its `ReadyForQuery`, end the clean-up's answer.
fn clean_up_messages() -> Vec<u8> {
    let mut out = protocol::message(b'S', &[]);
    out.extend(query("ROLLBACK"));
    out.extend(query("DISCARD ALL"));
    out.extend(query(&format!(
        "SET application_name = '{RELAY_APPLICATION}'"
    )));
    out
}

/// Why a session could not be opened.
enum Refused {
    /// The server said no: its messages, for the client as they are (a missing database is
    /// told by its code, which the harness reads).
    Server(Vec<u8>),
    /// Anything else.
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// A session of the server, kept by the relay.
struct Backend {
    stream: UnixStream,
    /// What the server said between the startup and its first `ReadyForQuery`
    /// (authentication, parameters, the session's cancel key): what a client gets at once.
    hello: Vec<u8>,
    /// The session's process id, for the janitor's view of its database's sessions.
    pid: i32,
}

impl Backend {
    /// Opens a session on the server's socket `upstream` with the client's startup packet.
    async fn connect(upstream: &Path, startup: &[u8]) -> Result<Self, Refused> {
        let mut stream = UnixStream::connect(upstream).await?;
        stream.write_all(startup).await?;
        let mut messages = Messages::default();
        let mut hello = Vec::new();
        let mut pid = 0;
        loop {
            let Some(batch) = messages.next_batch(&mut stream).await? else {
                return Err(Refused::Io(io::ErrorKind::UnexpectedEof.into()));
            };
            let mut ready = false;
            for (tag, body) in protocol::split(&batch) {
                match tag {
                    // Only a session that needs no password can be kept for others.
                    b'R' if body.get(..4) != Some(&[0, 0, 0, 0]) => {
                        return Err(Refused::Io(io::Error::other(
                            "the server asks the relay for a password on its socket",
                        )));
                    }
                    b'E' => return Err(Refused::Server(batch.clone())),
                    b'K' if body.len() >= 4 => {
                        pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    }
                    b'Z' => ready = true,
                    _ => {}
                }
            }
            hello.extend_from_slice(&batch);
            if ready {
                return Ok(Self { stream, hello, pid });
            }
        }
    }

    /// Whether the server has not closed the session since it went idle (a dropped or
    /// recreated database ends its sessions): an idle session has nothing to read.
    fn is_alive(&self) -> bool {
        let mut probe = [0; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Ends whatever the client left unfinished and discards the session's state; `Ok` when
    /// the session is as a fresh one (but its caches) and idle.
    async fn clean_up(&mut self, mut messages: Messages) -> io::Result<()> {
        self.stream.write_all(&clean_up_messages()).await?;
        let (mut discarded, mut named) = (false, false);
        loop {
            let Some(batch) = messages.next_batch(&mut self.stream).await? else {
                return Err(io::ErrorKind::UnexpectedEof.into());
            };
            for (tag, body) in protocol::split(&batch) {
                match tag {
                    b'C' if body.starts_with(b"DISCARD ALL") => discarded = true,
                    b'C' if discarded && body.starts_with(b"SET") => named = true,
                    b'E' if discarded => return Err(io::Error::other("the clean-up failed")),
                    b'Z' if named => return Ok(()),
                    _ => {}
                }
            }
        }
    }
}

/// The relay's idle sessions, by the startup packet they were opened with (database, user
/// and parameters: a client gets a session opened as it would have opened it).
#[derive(Default)]
pub(crate) struct Idle {
    sessions: Mutex<HashMap<Vec<u8>, Vec<Backend>>>,
}

impl Idle {
    fn take(&self, startup: &[u8]) -> Option<Backend> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let list = sessions.get_mut(startup)?;
        while let Some(backend) = list.pop() {
            if backend.is_alive() {
                return Some(backend);
            }
        }
        None
    }

    fn give_back(&self, startup: Vec<u8>, backend: Backend) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let idle: usize = sessions.values().map(Vec::len).sum();
        if idle < MAX_IDLE {
            sessions.entry(startup).or_default().push(backend);
        }
    }

    /// The process ids of the idle sessions (for the janitor, which resets a clone while
    /// one of them waits in it).
    pub(crate) fn pids(&self) -> Vec<i32> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.values().flatten().map(|b| b.pid).collect()
    }
}

/// Whether a relay serves the server of `files` now: it holds its lock while it runs.
pub(crate) fn running(files: &ServerFiles) -> bool {
    std::fs::File::open(files.relay_lock()).is_ok_and(|file| {
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    })
}

/// The relay of one server, on the runtime of the supervisor's side job. It stops when the
/// runtime does.
pub(crate) struct Relay {
    /// The lock that says it runs, held as long as the relay is.
    _lock: std::fs::File,
    pub(crate) idle: Arc<Idle>,
}

impl Relay {
    /// Starts relaying the server whose socket is `upstream` (`.s.PGSQL.<port>` in its
    /// socket directory) from a socket of the same name in `dir`, an owner-only directory.
    pub(crate) fn start(files: &ServerFiles, dir: &Path, upstream: PathBuf) -> io::Result<Self> {
        let name = upstream
            .file_name()
            .ok_or_else(|| io::Error::other("a socket path without a name"))?;
        crate::ephemeral::platform::owner_only_dir(dir)?;
        let path = dir.join(name);
        // Left by a relay that was killed: nobody listens on it any more.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(files.relay_lock())?;
        lock.lock()?;
        let idle = Arc::new(Idle::default());
        tokio::spawn(accept(listener, upstream, idle.clone()));
        Ok(Self { _lock: lock, idle })
    }
}

async fn accept(listener: UnixListener, upstream: PathBuf, idle: Arc<Idle>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let (upstream, idle) = (upstream.clone(), idle.clone());
                tokio::spawn(async move {
                    if let Err(error) = serve(client, &upstream, &idle).await {
                        tracing::debug!(%error, "persistence: a relayed session ended");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "persistence: the relay stopped accepting connections");
                return;
            }
        }
    }
}

/// Serves one client: its startup, then its messages both ways, then the clean-up.
async fn serve(mut client: UnixStream, upstream: &Path, idle: &Idle) -> io::Result<()> {
    let startup = loop {
        let (packet, code) = protocol::read_first_packet(&mut client).await?;
        match code {
            // No encryption on an owner-only socket: the client goes on in the clear.
            SSL_REQUEST | GSSENC_REQUEST => client.write_all(b"N").await?,
            CANCEL_REQUEST => {
                // The client's cancel key is the session's own: the server acts on it.
                let mut server = UnixStream::connect(upstream).await?;
                server.write_all(&packet).await?;
                return Ok(());
            }
            _ => break packet,
        }
    };
    let startup = Startup::parse(&startup);
    let mut backend = match idle.take(&startup.key) {
        Some(backend) => backend,
        None => match Backend::connect(upstream, &startup.key).await {
            Ok(backend) => backend,
            Err(Refused::Server(said)) => {
                client.write_all(&said).await?;
                return Ok(());
            }
            Err(Refused::Io(error)) => {
                // Said to the client as the server would: an error, then the end.
                let text = format!("persistence relay: {error}");
                let mut body = b"SFATAL\0C08006\0M".to_vec();
                body.extend_from_slice(text.as_bytes());
                body.extend_from_slice(b"\0\0");
                client.write_all(&protocol::message(b'E', &body)).await?;
                return Err(error);
            }
        },
    };
    client.write_all(&backend.hello).await?;
    let from_server = relay(&mut client, &mut backend, startup.name.as_deref()).await?;
    let cleaned = tokio::time::timeout(RESET_TIMEOUT, backend.clean_up(from_server)).await;
    if matches!(cleaned, Ok(Ok(()))) {
        idle.give_back(startup.key, backend);
    }
    Ok(())
}

/// Passes messages both ways until the client ends (`Terminate`, or its end of the stream);
/// returns what was read from the server and not yet passed on, whole messages only.
async fn relay(
    client: &mut UnixStream,
    backend: &mut Backend,
    name: Option<&str>,
) -> io::Result<Messages> {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = backend.stream.split();
    let mut from_client = Messages::default();
    let mut from_server = Messages::default();
    // The client's name first; its answer (up to the `ReadyForQuery`) is not the client's.
    server_write.write_all(&hand_over(name)).await?;
    let mut swallow = true;
    loop {
        tokio::select! {
            batch = from_client.next_batch(&mut client_read) => {
                let Some(batch) = batch? else { break };
                let end = protocol::split(&batch)
                    .position(|(tag, _)| tag == b'X')
                    .map(|terminate| {
                        protocol::split(&batch).take(terminate).map(|(_, b)| b.len() + 5).sum()
                    });
                server_write.write_all(&batch[..end.unwrap_or(batch.len())]).await?;
                if end.is_some() {
                    break;
                }
            }
            batch = from_server.next_batch(&mut server_read) => {
                let Some(batch) = batch? else {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                };
                let mut start = 0;
                if swallow {
                    for (tag, body) in protocol::split(&batch) {
                        start += body.len() + 5;
                        if tag == b'Z' {
                            swallow = false;
                            break;
                        }
                    }
                }
                if start < batch.len() {
                    client_write.write_all(&batch[start..]).await?;
                }
            }
        }
    }
    // A client that left before the hand-over's answer leaves it to the clean-up's drain,
    // which waits for its own answer after it.
    Ok(from_server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196_608_i32.to_be_bytes().to_vec();
        for (key, value) in pairs {
            body.extend_from_slice(key.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn sessions_are_kept_by_their_startup_but_the_name() {
        let named = Startup::parse(&packet(&[
            ("user", "postgres"),
            ("database", "clone_0"),
            ("application_name", "crate::tests::one"),
        ]));
        let other = Startup::parse(&packet(&[
            ("user", "postgres"),
            ("application_name", "crate::tests::two"),
            ("database", "clone_0"),
        ]));
        let bare = Startup::parse(&packet(&[("user", "postgres"), ("database", "clone_0")]));
        assert_eq!(named.name.as_deref(), Some("crate::tests::one"));
        assert_eq!(named.key, bare.key);
        assert_eq!(other.key, bare.key);
        assert_eq!(bare.name, None);
        assert_eq!(
            bare.key,
            packet(&[("user", "postgres"), ("database", "clone_0")]),
            "a startup without a name is kept as it is"
        );
        let elsewhere = Startup::parse(&packet(&[("user", "postgres"), ("database", "clone_1")]));
        assert_ne!(elsewhere.key, bare.key);
    }

    #[test]
    fn a_name_is_quoted_when_it_is_handed_over() {
        let message = hand_over(Some("it's"));
        assert!(message.ends_with(b"SET application_name = 'it''s'\0"));
    }
}
