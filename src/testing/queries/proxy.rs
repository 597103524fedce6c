//! A relay between the counter's connections and the server that writes down every
//! statement the server receives, before passing it on.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::statements::Statement;
use super::wire::Session;
use crate::testing::sql::protocol::{self, CANCEL_REQUEST, GSSENC_REQUEST, SSL_REQUEST};

/// Every statement relayed so far, in the order the relay read them.
#[derive(Debug, Default)]
pub(crate) struct Log {
    statements: Mutex<Vec<Statement>>,
    connections: AtomicU32,
}

impl Log {
    /// How many statements were logged so far: a mark to take [`Log::since`] from.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The statements logged after `mark`.
    pub(crate) fn since(&self, mark: usize) -> Vec<Statement> {
        self.lock()
            .get(mark..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Numbers the next connection 1 again (after the counter's own probe).
    pub(crate) fn restart_numbering(&self) {
        self.connections.store(0, Ordering::Relaxed);
    }

    fn push(&self, statement: Statement) {
        self.lock().push(statement);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Statement>> {
        // A panic elsewhere while holding the lock leaves a list that is still valid.
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Both directions of a connection.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Where the server listens.
#[derive(Debug, Clone)]
enum Upstream {
    Tcp {
        host: String,
        port: u16,
    },
    #[cfg(unix)]
    Unix(PathBuf),
}

impl Upstream {
    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Self::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            #[cfg(unix)]
            Self::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        }
    }
}

/// The running relay; stops (closing every relayed connection) when dropped.
#[derive(Debug)]
pub(crate) struct Proxy {
    task: JoinHandle<()>,
    /// The directory of the relay's unix socket, removed on drop.
    socket_dir: Option<PathBuf>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(dir) = &self.socket_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Proxy {
    /// Starts a relay to the server of `options`, logging into `log`; returns it with the
    /// options that connect through it (the same user, password and database).
    ///
    /// A server reached through a unix socket is relayed from a unix socket in a fresh
    /// temporary directory, any other from a loopback TCP port. The relay speaks to both
    /// sides without TLS.
    pub(crate) async fn start(
        options: &PgConnectOptions,
        log: Arc<Log>,
    ) -> io::Result<(Self, PgConnectOptions)> {
        #[cfg(unix)]
        if let Some(dir) = options.get_socket() {
            let port = options.get_port();
            let upstream = Upstream::Unix(dir.join(format!(".s.PGSQL.{port}")));
            let socket_dir = socket_dir()?;
            let listener =
                tokio::net::UnixListener::bind(socket_dir.join(format!(".s.PGSQL.{port}")))?;
            let task = tokio::spawn(accept_loop(Listener::Unix(listener), upstream, log));
            let relayed = options.clone().socket(&socket_dir);
            return Ok((
                Self {
                    task,
                    socket_dir: Some(socket_dir),
                },
                relayed,
            ));
        }
        let upstream = Upstream::Tcp {
            host: options.get_host().to_owned(),
            port: options.get_port(),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(accept_loop(Listener::Tcp(listener), upstream, log));
        let relayed = options
            .clone()
            .host("127.0.0.1")
            .port(port)
            .ssl_mode(PgSslMode::Disable);
        Ok((
            Self {
                task,
                socket_dir: None,
            },
            relayed,
        ))
    }
}

/// Numbers the relay directories, unique within the process.
#[cfg(unix)]
static RELAY_DIRS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A new private directory for the relay's socket (short: socket paths are limited to about
/// 100 bytes).
#[cfg(unix)]
fn socket_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "persistence-count-{}-{}",
        std::process::id(),
        RELAY_DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    // Left over by a process with the same pid that was killed: nobody uses it any more.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Where the relay listens.
enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

impl Listener {
    async fn accept(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Self::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            #[cfg(unix)]
            Self::Unix(listener) => Ok(Box::new(listener.accept().await?.0)),
        }
    }
}

async fn accept_loop(listener: Listener, upstream: Upstream, log: Arc<Log>) {
    // Dropped with this task when the proxy stops: that aborts every relayed connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(client) => {
                    connections.spawn(relay(client, upstream.clone(), Arc::clone(&log)));
                }
                Err(error) => {
                    tracing::warn!(%error, "the statement counter stopped accepting connections");
                    return;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Relays one client connection; its statements go to `log`.
async fn relay(client: Box<dyn Stream>, upstream: Upstream, log: Arc<Log>) -> io::Result<()> {
    let (client_read, mut client_write) = tokio::io::split(client);
    let mut from_client = BufReader::new(client_read);
    let server = loop {
        let (packet, code) = protocol::read_first_packet(&mut from_client).await?;
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            // No encryption between the client and the relay: the client goes on in the clear.
            client_write.write_all(b"N").await?;
            client_write.flush().await?;
            continue;
        }
        let mut server = upstream.connect().await?;
        server.write_all(&packet).await?;
        if code == CANCEL_REQUEST {
            return Ok(());
        }
        break server;
    };
    let connection = log.connections.fetch_add(1, Ordering::Relaxed) + 1;
    let (mut server_read, server_write) = tokio::io::split(server);
    let to_server = async {
        let mut to_server = BufWriter::new(server_write);
        let mut session = Session::default();
        loop {
            // Pass on what the client sent together in one write.
            if from_client.buffer().is_empty() {
                to_server.flush().await?;
            }
            let tag = match from_client.read_u8().await {
                Ok(tag) => tag,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            };
            let length = protocol::read_length(&mut from_client, 4).await?;
            let mut body = vec![0; length - 4];
            from_client.read_exact(&mut body).await?;
            if let Some(sql) = session.observe(tag, &body) {
                // Written down before the server gets it: by the time the client has the
                // answer, the statement is in the log.
                log.push(Statement { sql, connection });
            }
            to_server.write_u8(tag).await?;
            to_server.write_i32(length as i32).await?;
            to_server.write_all(&body).await?;
        }
        to_server.shutdown().await
    };
    let to_client = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::select! {
        result = to_server => result,
        result = to_client => result.map(drop),
    }
}
