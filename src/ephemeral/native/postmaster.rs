use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::cluster::{command_as, tail};
use super::{Instance, PgBinaries};
use crate::ephemeral::EphemeralError;
use crate::ephemeral::process::{RunAs, signal};

/// How long a new server may take to answer `SELECT 1`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `postgres`, child of the supervisor that started it.
#[derive(Debug)]
pub(crate) struct Postmaster {
    child: Child,
    /// The TCP port on 127.0.0.1 (the harness itself uses the unix socket).
    pub(crate) port: u16,
}

impl Postmaster {
    /// Starts the server of `instance` and waits until a real `SELECT 1` works.
    pub(crate) fn start(
        bins: &PgBinaries,
        instance: &Instance,
        run_as: Option<RunAs>,
    ) -> Result<Self, EphemeralError> {
        // A port picked now may be taken by the time postgres binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(bins, instance, run_as) {
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
    ) -> Result<Self, EphemeralError> {
        use std::os::unix::process::CommandExt;
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
        let mut command = command_as(bins.bin("postgres"), run_as);
        command
            .arg("-D")
            .arg(instance.data_dir())
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(instance.socket_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // SAFETY: prctl is async-signal-safe. Set after the uid change (std runs pre_exec
        // hooks last), because changing credentials clears the parent-death signal: if the
        // supervisor dies, even by SIGKILL, the kernel tells postgres to shut down at once.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| EphemeralError::Start {
            detail: format!("could not run {}: {e}", bins.bin("postgres").display()),
        })?;
        let mut server = Self { child, port };
        let options = PgConnectOptions::new()
            .socket(instance.socket_dir())
            .port(port)
            .username("postgres")
            .database("postgres");
        match server.wait_ready(&options, &log_path) {
            Ok(()) => Ok(server),
            Err(err) => {
                server.stop();
                Err(err)
            }
        }
    }

    fn wait_ready(&mut self, options: &PgConnectOptions, log: &Path) -> Result<(), EphemeralError> {
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
        signal(self.child.id(), libc::SIGQUIT);
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
