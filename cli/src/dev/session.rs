//! The record a running `persistence dev` leaves beside its server: its process, its
//! database and its migrations (`<dev dir>/sessions/<pid>.json`). The other commands read it
//! to find the project's development database (`migrate`, `db`, `health`, `studio`, ...), and
//! `test-server status` shows it. A record whose process is gone is ignored and removed.

use std::path::{Path, PathBuf};

use persistence::ephemeral::platform::process_alive;
use persistence::ephemeral::state_dir::{ServerState, StateDir};
use serde::{Deserialize, Serialize};

/// The database `dev` creates unless `--database` says otherwise; the one other commands
/// pick when several `dev` run for a project. Here, with the record, because
/// [`crate::database`] reads the record and must not depend on the `dev` command.
pub(crate) const DEFAULT_DATABASE: &str = "persistence_dev";

/// The directory of the records, in the dev state directory.
const SESSIONS_DIR: &str = "sessions";

/// What one running `persistence dev` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The `dev` process.
    pub(crate) pid: u32,
    /// Its database.
    pub(crate) database: String,
    /// Where its migrations come from, as its report names them.
    pub(crate) migrations: String,
}

impl Session {
    /// Writes this process's record into `dev_dir`; it is removed again on drop.
    pub(crate) fn write(dev_dir: &Path, database: &str, migrations: &str) -> Recorded {
        let session = Self {
            pid: std::process::id(),
            database: database.to_owned(),
            migrations: migrations.to_owned(),
        };
        let path = path(dev_dir, session.pid);
        let written = std::fs::create_dir_all(dev_dir.join(SESSIONS_DIR)).is_ok()
            && serde_json::to_vec_pretty(&session)
                .is_ok_and(|text| std::fs::write(&path, text).is_ok());
        Recorded(written.then_some(path))
    }
}

/// A record this process wrote; removed when dropped.
#[derive(Debug)]
pub(crate) struct Recorded(Option<PathBuf>);

impl Drop for Recorded {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn path(dev_dir: &Path, pid: u32) -> PathBuf {
    dev_dir.join(SESSIONS_DIR).join(format!("{pid}.json"))
}

/// The running `dev`s of `dev_dir`, oldest process first.
pub(crate) fn sessions(dev_dir: &Path) -> Vec<Session> {
    let Ok(entries) = std::fs::read_dir(dev_dir.join(SESSIONS_DIR)) else {
        return Vec::new();
    };
    let mut sessions = Vec::new();
    for entry in entries.flatten() {
        let session = std::fs::read(entry.path())
            .ok()
            .and_then(|text| serde_json::from_slice::<Session>(&text).ok());
        match session {
            Some(session) if process_alive(session.pid) => sessions.push(session),
            // Left by a `dev` that was killed.
            _ => {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    sessions.sort_by_key(|s| s.pid);
    sessions
}

/// The server of the `dev` running in `dev_dir` and the database to use on it: the default
/// one if a `dev` serves it, else the database of the oldest `dev`.
pub(crate) fn running_database(dev_dir: &Path) -> Option<(ServerState, String)> {
    let server = StateDir::new(dev_dir).live_server()?;
    let sessions = sessions(dev_dir);
    let database = sessions
        .iter()
        .find(|s| s.database == DEFAULT_DATABASE)
        .or(sessions.first())
        .map_or(DEFAULT_DATABASE, |s| s.database.as_str())
        .to_owned();
    Some((server, database))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_lives_as_long_as_its_process() {
        let dir =
            std::env::temp_dir().join(format!("persistence-cli-sessions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let recorded = Session::write(&dir, "notes_dev", "migrations");
        assert_eq!(
            sessions(&dir),
            [Session {
                pid: std::process::id(),
                database: "notes_dev".to_owned(),
                migrations: "migrations".to_owned(),
            }]
        );
        // One of a process that is gone.
        std::fs::write(
            path(&dir, u32::MAX),
            r#"{"pid": 4294967295, "database": "x", "migrations": "y"}"#,
        )
        .expect("write");
        assert_eq!(sessions(&dir).len(), 1);
        assert!(
            !path(&dir, u32::MAX).exists(),
            "a dead process's record goes"
        );
        // No server runs there: no database to use.
        assert_eq!(running_database(&dir), None);
        drop(recorded);
        assert_eq!(sessions(&dir), []);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
