use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::cluster::tail;
use super::{Instance, PgBinaries};
use crate::ephemeral::platform::{self, Armed, ParentDeath, RunAs};
use crate::ephemeral::{EphemeralError, Secret};

/// How long a new server may take to answer `SELECT 1`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `postgres`, child of the supervisor that started it.
#[derive(Debug)]
pub(crate) struct Postmaster {
    child: Child,
    /// The TCP port on 127.0.0.1.
    pub(crate) port: u16,
    /// The unix socket's directory, which the harness prefers to TCP; `None` when its path
    /// would be too long for the system (deep state directories) and TCP is used instead.
    pub(crate) socket_dir: Option<PathBuf>,
    /// Stops postgres if the supervisor dies without stopping it (not needed on Linux).
    parent_death: Option<Armed>,
}

impl Postmaster {
    /// Starts the server of `instance`, gives its superuser the password `secret`, and
    /// waits until a real `SELECT 1` works.
    pub(crate) fn start(
        bins: &PgBinaries,
        instance: &Instance,
        run_as: Option<RunAs>,
        secret: &Secret,
    ) -> Result<Self, EphemeralError> {
        let socket_dir = platform::socket_path_fits(&instance.socket_dir().join(".s.PGSQL.65535"))
            .then(|| instance.socket_dir());
        // The password is set through the first connection, over the socket (trusted: its
        // directory is the owner's alone); without a socket, before the server listens.
        if socket_dir.is_none() {
            set_password_offline(bins, instance, run_as, secret)?;
        }
        // A port picked now may be taken by the time postgres binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(bins, instance, run_as, socket_dir.clone(), secret) {
                Ok(server) => return Ok(server),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| EphemeralError::Start {
            detail: "no attempt made".into(),
        }))
    }

    fn start_once(
        bins: &PgBinaries,
        instance: &Instance,
        run_as: Option<RunAs>,
        socket_dir: Option<PathBuf>,
        secret: &Secret,
    ) -> Result<Self, EphemeralError> {
        let port = free_port()?;
        let log_path = instance.log_file();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| EphemeralError::io("open", &log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| EphemeralError::io("open", &log_path, e))?;
        let mut command = platform::command_as(bins.bin("postgres"), run_as);
        command
            .arg("-D")
            .arg(instance.data_dir())
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            // An empty list: no unix socket at all.
            .arg(socket_dir.as_deref().unwrap_or(Path::new("")))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        ParentDeath::prepare(&mut command);
        let child = command.spawn().map_err(|e| EphemeralError::Start {
            detail: format!("could not run {}: {e}", bins.bin("postgres").display()),
        })?;
        let armed = ParentDeath::arm(child.id());
        let mut server = Self {
            child,
            port,
            socket_dir,
            parent_death: None,
        };
        match armed {
            Ok(armed) => server.parent_death = Some(armed),
            Err(e) => {
                server.stop();
                return Err(EphemeralError::Start {
                    detail: format!("could not start the watcher of postgres: {e}"),
                });
            }
        }
        let tcp = PgConnectOptions::new().host("127.0.0.1");
        let options = match &server.socket_dir {
            Some(dir) => tcp.socket(dir),
            None => tcp,
        }
        .port(port)
        .username("postgres")
        .password(secret.expose())
        .database("postgres");
        let set_password = server.socket_dir.is_some().then_some(secret);
        match server.wait_ready(&options, &log_path, set_password) {
            Ok(()) => Ok(server),
            Err(err) => {
                server.stop();
                Err(err)
            }
        }
    }

    /// Waits for `SELECT 1` to work, then sets the superuser's password if asked.
    fn wait_ready(
        &mut self,
        options: &PgConnectOptions,
        log: &Path,
        set_password: Option<&Secret>,
    ) -> Result<(), EphemeralError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EphemeralError::Start {
                detail: format!("no tokio runtime: {e}"),
            })?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                return Err(EphemeralError::Start {
                    detail: format!("postgres exited ({status}): {}", tail(&log, 1500)),
                });
            }
            let probe = runtime.block_on(async {
                let mut conn = PgConnection::connect_with(options).await?;
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                if let Some(secret) = set_password {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(password_sql(secret)))
                        .execute(&mut conn)
                        .await?;
                }
                conn.close().await
            });
            match probe {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(EphemeralError::Start {
                        detail: format!("no answer to SELECT 1 within {START_TIMEOUT:?}: {err}"),
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// The postmaster's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server has exited on its own.
    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown, nothing is worth saving) and
    /// reaps it; SIGKILL if it does not go within five seconds.
    pub(crate) fn stop(&mut self) {
        // The watcher goes first: once postgres is reaped its pid may be someone else's.
        self.parent_death = None;
        platform::stop_now(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives the superuser its password, stored as a SCRAM verifier (the server hashes it; the
/// statement is not logged: `log_statement` is off and `log_min_error_statement` is `panic`).
fn password_sql(secret: &Secret) -> String {
    format!(
        "SET password_encryption = 'scram-sha-256';\n\
         ALTER ROLE postgres PASSWORD '{}';\n",
        secret.expose().replace('\'', "''")
    )
}

/// Sets the password in single-user mode, before the server listens: for a server without
/// a unix socket (its path would be too long), whose first connection is over TCP.
fn set_password_offline(
    bins: &PgBinaries,
    instance: &Instance,
    run_as: Option<RunAs>,
    secret: &Secret,
) -> Result<(), EphemeralError> {
    let failed = |detail: String| EphemeralError::Start {
        detail: format!(
            "could not set the superuser's password (postgres --single): {}",
            detail.replace(secret.expose(), "***")
        ),
    };
    let mut command = platform::command_as(bins.bin("postgres"), run_as);
    command
        .arg("--single")
        .arg("-D")
        .arg(instance.data_dir())
        .arg("postgres")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(password_sql(secret).as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() && !stderr.contains("ERROR") {
        return Ok(());
    }
    Err(failed(format!(
        "{}: {}",
        output.status,
        tail(&stderr, 1500)
    )))
}

fn free_port() -> Result<u16, EphemeralError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| EphemeralError::Start {
            detail: format!("no free port on 127.0.0.1: {e}"),
        })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| EphemeralError::Start {
            detail: format!("no free port on 127.0.0.1: {e}"),
        })
}
