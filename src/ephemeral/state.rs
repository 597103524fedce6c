//! The state file through which processes of one run find the server that is running.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::platform::process_alive;
use super::{BackendKind, EphemeralError};

/// What a joining process needs to know about a started server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerState {
    /// Unique per server start.
    pub(crate) instance_id: String,
    /// `native` or `docker`.
    pub(crate) backend: BackendKind,
    /// Native: `<root>/persistence-<id>`, with data, socket and log.
    pub(crate) instance_dir: Option<PathBuf>,
    /// Native: the unix socket directory the harness connects through.
    pub(crate) socket_dir: Option<PathBuf>,
    /// Docker: the container.
    pub(crate) container_id: Option<String>,
    /// The TCP port on 127.0.0.1.
    pub(crate) port: u16,
    /// `15.18`.
    pub(crate) version: String,
    /// The detached process that owns the server.
    pub(crate) supervisor_pid: u32,
    /// Native: the server's pid.
    pub(crate) postmaster_pid: Option<u32>,
}

impl ServerState {
    pub(crate) fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("server.json")
    }

    /// The recorded server, if there is one whose supervisor still lives.
    pub(crate) fn read_live(state_dir: &Path) -> Option<Self> {
        let text = std::fs::read(Self::path(state_dir)).ok()?;
        let state: Self = serde_json::from_slice(&text).ok()?;
        let alive =
            process_alive(state.supervisor_pid) && state.postmaster_pid.is_none_or(process_alive);
        alive.then_some(state)
    }

    /// Writes the state atomically (a reader never sees half a file).
    pub(crate) fn write(&self, state_dir: &Path) -> Result<(), EphemeralError> {
        let path = Self::path(state_dir);
        let tmp = state_dir.join(format!("server.json.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(|e| {
            EphemeralError::io("encode", &path, std::io::Error::other(e.to_string()))
        })?;
        std::fs::write(&tmp, text).map_err(|e| EphemeralError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| EphemeralError::io("rename", &tmp, e))
    }

    /// Removes the state file if it still describes this server.
    pub(crate) fn remove_if_current(&self, state_dir: &Path) {
        let path = Self::path(state_dir);
        let current = std::fs::read(&path)
            .ok()
            .and_then(|text| serde_json::from_slice::<Self>(&text).ok());
        if current.is_some_and(|c| c.instance_id == self.instance_id) {
            let _ = std::fs::remove_file(path);
        }
    }
}
