//! The state directories of every server this user started, wherever they are.
//!
//! A server's state lives with the run that started it: `<target dir>/persistence` for a test
//! run, `<target dir>/persistence/dev` for `persistence dev`. `persistence test-server
//! status|stop` runs from anywhere, so each start leaves a small record here, in a directory
//! of this user's under the system's temporary directory
//! (`<temp>/persistence.<uid>/registry/<key>.json`, mode 0700): the state directory and the
//! project it serves. Records whose server is gone are dropped when the records are read.
//! (Not `persistence-<uid>`: `persistence-*` directories in a RAM directory are the native
//! backend's instances, which the sweep removes when their owner is gone.)
//!
//! Recording is best effort: a failure to record never fails a start, it only makes the
//! server invisible from other projects.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::platform;
use super::state_dir::StateDir;

/// The registry's directory under [`user_dir`].
const REGISTRY_DIR: &str = "registry";

/// A record younger than this is kept even while its state directory shows no server: it may
/// have been written for a server that is being recorded right now.
const FRESH: Duration = Duration::from_secs(10);

/// Where one of this user's servers keeps its state, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Recorded {
    /// The server's state directory.
    pub state_dir: PathBuf,
    /// The project (a crate or workspace directory) it serves, when the starter knew it.
    pub project: Option<PathBuf>,
}

/// This user's own directory under the system's temporary directory,
/// `<temp>/persistence.<uid>`: created if missing, entered by no other user. `None` when it
/// cannot be had safely (another user made it, or it is a symbolic link).
pub fn user_dir() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("persistence.{}", platform::user_tag()));
    platform::owner_only_dir(&dir).ok().map(|()| dir)
}

/// Records that `state_dir` holds a server this user started, for `project`. Recording the
/// same state directory again replaces its record.
pub fn record(state_dir: &Path, project: Option<&Path>) {
    let Some(dir) = registry_dir() else { return };
    let record = Recorded {
        state_dir: absolute(state_dir),
        project: project.map(absolute),
    };
    let Ok(text) = serde_json::to_vec_pretty(&record) else {
        return;
    };
    let path = dir.join(format!("{}.json", key(&record.state_dir)));
    // Written aside and renamed, so that a reader never sees half a record.
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    if std::fs::write(&partial, text).is_ok() && std::fs::rename(&partial, &path).is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    prune(&dir, Some(&path));
}

/// The recorded state directories whose server runs now; the records of servers that are
/// gone are removed.
pub fn recorded() -> Vec<Recorded> {
    let Some(dir) = registry_dir() else {
        return Vec::new();
    };
    prune(&dir, None)
}

/// Reads every record, removes the stale ones (except `keep`), returns the live ones sorted
/// by state directory.
fn prune(dir: &Path, keep: Option<&Path>) -> Vec<Recorded> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let record = std::fs::read(&path)
            .ok()
            .and_then(|text| serde_json::from_slice::<Recorded>(&text).ok());
        match record {
            Some(record) if StateDir::new(&record.state_dir).live_server().is_some() => {
                live.push(record);
            }
            _ if Some(path.as_path()) == keep || fresh(&path) => {}
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    live.sort_by(|a, b| a.state_dir.cmp(&b.state_dir));
    live
}

fn fresh(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age < FRESH)
}

fn registry_dir() -> Option<PathBuf> {
    let dir = user_dir()?.join(REGISTRY_DIR);
    platform::owner_only_dir(&dir).ok().map(|()| dir)
}

/// The file name of a state directory's record: the start of its path's SHA-256.
fn key(state_dir: &Path) -> String {
    super::state_dir::digest_tag(state_dir.to_string_lossy().as_bytes(), 8)
}

/// `path` made absolute against the current directory (not canonicalized: the directory
/// may not exist yet, and the record should name it as its users do).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = key(Path::new("/work/a/target/persistence/dev"));
        assert_eq!(a, key(Path::new("/work/a/target/persistence/dev")));
        assert_ne!(a, key(Path::new("/work/b/target/persistence/dev")));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn a_record_without_a_server_is_kept_while_fresh_then_dropped() {
        let scratch =
            std::env::temp_dir().join(format!("persistence-registry-test-{}", std::process::id()));
        let dir = scratch.join("registry");
        platform::owner_only_dir(&dir).expect("registry dir");
        let record = Recorded {
            state_dir: scratch.join("no-server-here"),
            project: Some(scratch.join("project")),
        };
        let path = dir.join(format!("{}.json", key(&record.state_dir)));
        std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("write");
        std::fs::write(dir.join("garbage.json"), "not json").expect("write");

        assert_eq!(prune(&dir, None), Vec::new(), "no server runs there");
        assert!(path.exists(), "a fresh record is kept");
        let old = SystemTime::now() - FRESH * 2;
        for file in [&path, &dir.join("garbage.json")] {
            std::fs::File::options()
                .write(true)
                .open(file)
                .and_then(|f| f.set_modified(old))
                .expect("age the record");
        }
        assert_eq!(prune(&dir, Some(&path)), Vec::new());
        assert!(path.exists(), "the record being written is kept");
        assert!(
            !dir.join("garbage.json").exists(),
            "an unreadable old record goes"
        );
        prune(&dir, None);
        assert!(!path.exists(), "an old record without a server goes");
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
