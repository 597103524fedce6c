//! The line a process prints when it joins a running server other than the one its settings
//! ask for.
//!
//! One server serves every process of a state directory; the first process starts it with its
//! own settings. A later process whose `PERSISTENCE_TEST_BACKEND`, `PERSISTENCE_PG_BIN` or
//! `PERSISTENCE_TEST_IMAGE` differ still joins it: a second server per state directory would
//! split the run's locks, leases and sweeps. Instead it says so, once per process, on stderr,
//! naming the variable, what it asked for, what runs, and how to get what it asked for.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::BackendKind;
use super::settings::Settings;
use super::state_dir::{ServerProcess, ServerState};

/// What `settings` ask for that the running server `state` is not, as one line; `None` when
/// it is what they ask for.
pub(crate) fn line(settings: &Settings, state: &ServerState) -> Option<String> {
    let mut asked = Vec::new();
    if matches!(settings.backend, BackendKind::Native | BackendKind::Docker)
        && settings.backend != state.backend()
    {
        asked.push(format!("PERSISTENCE_TEST_BACKEND={}", settings.backend));
    }
    match &state.process {
        ServerProcess::Native { pg_bin, .. } => {
            if let Some(wanted) = &settings.pg_bin
                && !same_dir(wanted, pg_bin)
                && settings.backend != BackendKind::Docker
            {
                asked.push(format!("PERSISTENCE_PG_BIN={}", wanted.display()));
            }
        }
        ServerProcess::Docker { image, .. } => {
            if settings.backend != BackendKind::Native && *image != settings.image {
                asked.push(format!("PERSISTENCE_TEST_IMAGE={}", settings.image));
            }
        }
    }
    if asked.is_empty() {
        return None;
    }
    let what = match &state.process {
        ServerProcess::Native { pg_bin, .. } => format!("binaries in {}", pg_bin.display()),
        ServerProcess::Docker { image, .. } => format!("image {image}"),
    };
    let grace = match state.idle_grace_ms {
        Some(ms) => format!(
            "or wait until it has been unused for its idle grace of {} s",
            ms as f64 / 1000.0
        ),
        None => "it has PERSISTENCE_TEST_IDLE_GRACE=never: it stays until stopped".to_owned(),
    };
    Some(format!(
        "persistence: {} not applied: this process joined the {} server already running \
         (PostgreSQL {}, {what}, on 127.0.0.1:{}, instance {}); to get what you asked for, stop \
         it with `persistence test-server stop {}` ({grace}), then run again",
        asked.join(" and "),
        state.backend(),
        state.version,
        state.port,
        state.instance_id,
        state.instance_id,
    ))
}

/// Prints `line` on stderr unless this process already printed one.
pub(crate) fn say_once(line: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::SeqCst) {
        eprintln!("{line}");
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn native_state() -> ServerState {
        ServerState {
            instance_id: "4242-00ab".into(),
            process: ServerProcess::Native {
                instance_dir: PathBuf::from("/dev/shm/persistence-4242-00ab"),
                socket_dir: None,
                postmaster_pid: u32::MAX,
                pg_bin: PathBuf::from("/usr/lib/postgresql/15/bin"),
            },
            port: 5555,
            version: "15.18".into(),
            supervisor_pid: u32::MAX,
            idle_grace_ms: None,
            secret: None,
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(vars).expect("valid settings")
    }

    #[test]
    fn the_same_settings_say_nothing() {
        let state = native_state();
        assert_eq!(line(&settings(&[]), &state), None);
        let native = settings(&[
            ("PERSISTENCE_TEST_BACKEND", "native"),
            ("PERSISTENCE_PG_BIN", "/usr/lib/postgresql/15/bin"),
        ]);
        assert_eq!(line(&native, &state), None);
    }

    #[test]
    fn another_backend_or_binaries_are_named() {
        let state = native_state();
        let docker =
            line(&settings(&[("PERSISTENCE_TEST_BACKEND", "docker")]), &state).expect("a line");
        assert!(
            docker.contains("PERSISTENCE_TEST_BACKEND=docker not applied")
                && docker.contains("joined the native server")
                && docker.contains("persistence test-server stop 4242-00ab")
                && docker.contains("PERSISTENCE_TEST_IDLE_GRACE=never"),
            "{docker}"
        );
        let bins =
            line(&settings(&[("PERSISTENCE_PG_BIN", "/nonexistent")]), &state).expect("a line");
        assert!(
            bins.contains("PERSISTENCE_PG_BIN=/nonexistent not applied")
                && bins.contains("binaries in /usr/lib/postgresql/15/bin"),
            "{bins}"
        );
    }

    #[test]
    fn another_image_is_named() {
        let state = ServerState {
            process: ServerProcess::Docker {
                container_id: "c0ffee".into(),
                image: "persistence/postgres:15-local".into(),
            },
            idle_grace_ms: Some(5000),
            ..native_state()
        };
        let other = line(
            &settings(&[("PERSISTENCE_TEST_IMAGE", "postgres:16")]),
            &state,
        )
        .expect("a line");
        assert!(
            other.contains("PERSISTENCE_TEST_IMAGE=postgres:16 not applied")
                && other.contains("image persistence/postgres:15-local")
                && other.contains("idle grace of 5 s"),
            "{other}"
        );
        let same = settings(&[("PERSISTENCE_TEST_IMAGE", "persistence/postgres:15-local")]);
        assert_eq!(line(&same, &state), None);
    }
}
