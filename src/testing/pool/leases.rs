//! Leases on pooled clones.
//!
//! A clone is leased by holding an exclusive lock on a small file named after it, in the
//! state directory's files of its server (`servers/<instance>/<clone>.lock`). The kernel
//! drops the lock when its process ends, however it ends, so a dead test's clone is free
//! again at once. Taking or testing a lease costs a system call, not a round trip, which
//! is what lets a `cargo nextest` process find a free clone without an extra connection.
//!
//! The file also records what its last holder left the clone in ([`CloneState`]), so the
//! next holder knows whether the clone is ready to use, needs a reset, or must be created.
//! Every process that uses a native or docker server shares its state directory, so the
//! files are the whole truth there; on an external server (possibly shared by other
//! machines) transaction-mode clones are also claimed with an advisory lock in the clone.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::ephemeral::state_dir::ServerFiles;

/// What the last holder of a lease left its clone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloneState {
    /// Nothing recorded: the clone may not exist, or was left by a process that died
    /// while creating it. Recreate it before use.
    Unknown,
    /// Identical to the template except for what transactions with an id at or after
    /// `watermark` wrote (nothing yet, when it was recorded).
    Clean {
        /// The next transaction id when the clone was last known clean.
        watermark: u64,
    },
    /// In use by a test, or left by one: clean up what was written since `watermark`
    /// before use.
    InUse {
        /// The watermark of the clean state the test started from.
        watermark: u64,
    },
}

impl CloneState {
    fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        match (words.next(), words.next().and_then(|w| w.parse().ok())) {
            (Some("clean"), Some(watermark)) => Self::Clean { watermark },
            (Some("in-use"), Some(watermark)) => Self::InUse { watermark },
            _ => Self::Unknown,
        }
    }

    fn render(self) -> String {
        match self {
            Self::Unknown => String::new(),
            Self::Clean { watermark } => format!("clean {watermark}\n"),
            Self::InUse { watermark } => format!("in-use {watermark}\n"),
        }
    }
}

/// What [`Lease::try_take_existing`] found.
#[derive(Debug)]
pub(crate) enum Existing {
    /// No lease of that name was ever taken: the clone was never made.
    Absent,
    /// Another holder has it.
    Held,
    /// Ours now.
    Taken(Lease),
}

/// An exclusive lease on one clone, released when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    file: File,
    path: PathBuf,
}

impl Lease {
    /// Takes the lease on the clone `name` if no other holder has it.
    pub(crate) fn try_take(files: &ServerFiles, name: &str) -> std::io::Result<Option<Self>> {
        match Self::open(files, name, true)? {
            Existing::Taken(lease) => Ok(Some(lease)),
            Existing::Held | Existing::Absent => Ok(None),
        }
    }

    /// Takes the lease on the clone `name` if some holder had it before and none has it
    /// now; never makes a new one.
    pub(crate) fn try_take_existing(files: &ServerFiles, name: &str) -> std::io::Result<Existing> {
        Self::open(files, name, false)
    }

    fn open(files: &ServerFiles, name: &str, create: bool) -> std::io::Result<Existing> {
        let path = files.lease(name);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path);
        let file = match opened {
            Ok(file) => file,
            Err(err) if !create && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Existing::Absent);
            }
            Err(err) => return Err(err),
        };
        match file.try_lock() {
            Ok(()) => Ok(Existing::Taken(Self { file, path })),
            Err(TryLockError::WouldBlock) => Ok(Existing::Held),
            Err(TryLockError::Error(err)) => Err(err),
        }
    }

    /// What the previous holder recorded.
    pub(crate) fn state(&mut self) -> CloneState {
        let mut text = String::new();
        let read = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_string(&mut text));
        match read {
            Ok(_) => CloneState::parse(&text),
            Err(_) => CloneState::Unknown,
        }
    }

    /// Records `state` for the next holder. If the write fails, the file is emptied, which
    /// reads as `Unknown`: the next holder then recreates the clone rather than trust it.
    pub(crate) fn record(&mut self, state: CloneState) {
        let text = state.render();
        let written = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .and_then(|()| self.file.set_len(text.len() as u64));
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), %err, "persistence: cannot record a clone's state");
            let _ = self.file.set_len(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_exclusive_and_remembers_the_state() {
        let dir =
            std::env::temp_dir().join(format!("persistence-lease-test-{}", std::process::id()));
        let files = crate::ephemeral::state_dir::StateDir::new(&dir).files_of("test");
        files.create().expect("dir");
        let mut first = Lease::try_take(&files, "c_0").expect("io").expect("free");
        assert_eq!(first.state(), CloneState::Unknown);
        assert!(Lease::try_take(&files, "c_0").expect("io").is_none());
        first.record(CloneState::Clean { watermark: 42 });
        first.record(CloneState::InUse { watermark: 42 });
        first.record(CloneState::Clean { watermark: 7 });
        drop(first);
        let mut again = Lease::try_take(&files, "c_0")
            .expect("io")
            .expect("free again");
        assert_eq!(again.state(), CloneState::Clean { watermark: 7 });
        drop(again);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unreadable_states_are_unknown() {
        assert_eq!(CloneState::parse("clean x"), CloneState::Unknown);
        assert_eq!(CloneState::parse(""), CloneState::Unknown);
        assert_eq!(
            CloneState::parse("in-use 3\n"),
            CloneState::InUse { watermark: 3 }
        );
        assert_eq!(CloneState::parse("in-use"), CloneState::Unknown);
    }
}
