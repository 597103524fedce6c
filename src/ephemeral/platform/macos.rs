//! macOS: no tmpfs and no parent-death signal; Homebrew's and Postgres.app's locations.

use std::path::PathBuf;
use std::process::Command;

use super::{InstallRoot, Watcher};

/// `sun_path` is 104 bytes with its NUL.
pub(super) const MAX_SOCKET_PATH: Option<usize> = Some(103);

/// macOS has no `/dev/shm`: data lives under the state directory.
pub(super) fn ram_dir() -> Option<PathBuf> {
    None
}

pub(super) fn native_unavailable() -> Option<&'static str> {
    None
}

pub(super) fn install_roots() -> Vec<InstallRoot> {
    vec![
        // Homebrew on Apple silicon, then on Intel: `brew install postgresql@17`.
        InstallRoot {
            parent: PathBuf::from("/opt/homebrew/opt"),
            prefix: "postgresql@",
        },
        InstallRoot {
            parent: PathBuf::from("/usr/local/opt"),
            prefix: "postgresql@",
        },
        InstallRoot {
            parent: PathBuf::from("/Applications/Postgres.app/Contents/Versions"),
            prefix: "",
        },
    ]
}

pub(super) fn prepare_parent_death(_command: &mut Command) {}

pub(super) fn arm_parent_death(pid: u32) -> std::io::Result<Option<Watcher>> {
    super::unix::watch_parent_of(pid).map(Some)
}
