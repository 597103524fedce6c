//! Another user of this machine, for the tests that only a server's owner gets in: `nobody`,
//! through `runuser` (which needs root), with the psql client of the PostgreSQL found.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether this process runs as root (only root can act as another user).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// psql, and that this process can act as `nobody`; `None` (and why, printed) when the test
/// cannot run here.
pub fn prerequisites() -> Option<PathBuf> {
    if !is_root() {
        eprintln!("skipped: acting as another user (runuser -u nobody) needs root");
        return None;
    }
    let psql = persistence::ephemeral::native::PgBinaries::find(None)
        .ok()
        .map(|bins| bins.dir.join("psql"))
        .filter(|psql| psql.is_file());
    if psql.is_none() {
        eprintln!("skipped: no psql beside the PostgreSQL binaries");
    }
    psql
}

/// What psql said, and whether `SELECT 1` worked.
#[derive(Debug)]
pub struct Attempt {
    /// `SELECT 1` answered.
    pub connected: bool,
    /// Its stdout and stderr.
    pub said: String,
}

/// `psql ARGS -c 'SELECT 1'` as `nobody` (when `as_nobody`) or as this process, never
/// prompting for a password, with `password` in `PGPASSWORD` when given.
pub fn psql(psql: &Path, as_nobody: bool, args: &[&str], password: Option<&str>) -> Attempt {
    let mut command = if as_nobody {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(psql);
        command
    } else {
        Command::new(psql)
    };
    command
        .args(["-X", "-w", "-A", "-t"])
        .args(args)
        .args(["-c", "SELECT 1"])
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env_remove("PGSERVICEFILE")
        .current_dir("/")
        .stdin(Stdio::null());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().expect("run psql");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Attempt {
        connected: output.status.success() && said.trim() == "1",
        said,
    }
}

/// Asserts that `nobody` is refused at `host` (an address or a socket directory) and `port`,
/// for the reason `why` (a fragment of psql's message): without a password and with a wrong
/// one.
pub fn assert_nobody_refused(psql_bin: &Path, host: &str, port: u16, why: &str) {
    let port = port.to_string();
    let args = ["-h", host, "-p", &port, "-U", "postgres", "-d", "postgres"];
    for password in [None, Some("postgres")] {
        let attempt = psql(psql_bin, true, &args, password);
        assert!(
            !attempt.connected,
            "nobody got in at {host}:{port}: {}",
            attempt.said
        );
        assert!(
            attempt.said.contains(why),
            "nobody was refused at {host}:{port} for another reason than `{why}`: {}",
            attempt.said
        );
    }
}

/// The mode bits (`0o777`) of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
