use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BackendKind, EphemeralError, platform};

/// How long a started server outlives the last process that used it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleGrace {
    /// Stop the server once no process has used it for this long.
    After(Duration),
    /// Keep the server for fast local reruns (`PERSISTENCE_TEST_IDLE_GRACE=never`); it is
    /// swept by a later run only if its supervisor has died.
    Never,
}

/// What a test keeps of a database-mode test's database (`PERSISTENCE_TEST_KEEP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeepPolicy {
    /// The databases of failed tests (the default, as `#[sqlx::test]` does): the newest few
    /// per template, each dropped when its test passes again.
    #[default]
    Failed,
    /// Nothing.
    None,
    /// Every test's database, failed or passed, until `persistence test-server stop`.
    All,
}

/// How a test that takes `&mut PgConnection` runs (`PERSISTENCE_TEST_ISOLATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationOverride {
    /// As its signature says: in a transaction that is rolled back.
    #[default]
    AsDeclared,
    /// In a database of its own, outside any transaction: what it writes is committed, and
    /// kept if it fails (to look at a failed transaction-mode test's data).
    Database,
}

/// Where and how throwaway servers are found or started, and how the test harness behaves,
/// read from the environment: every variable of this crate is read here, once per process
/// ([`Settings::get`]).
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `PERSISTENCE_TEST_BACKEND` | `auto`, `docker`, `native` or `external` | `auto` |
/// | `PERSISTENCE_TEST_IMAGE` | the image of the docker backend | `postgres:17-alpine` |
/// | `TEST_DATABASE_URL` | the server of the `external` backend (needs CREATEDB) | unset |
/// | `PERSISTENCE_PG_BIN` | directory with `initdb` and `postgres` | `pg_config --bindir`, `PATH`, `/usr/lib/postgresql/*/bin` |
/// | `PERSISTENCE_TEST_IDLE_GRACE` | seconds a server outlives its last user, or `never` | `5` |
/// | `PERSISTENCE_STATE_DIR` | lock files, state and the cached pristine cluster | `<target dir>/persistence` |
/// | `PERSISTENCE_TEST_RAM_DIR` | where native servers keep their data when it has room, or `none` (under the state directory) | `/dev/shm` on Linux, `none` elsewhere |
/// | `PERSISTENCE_TEST_KEEP` | `failed`, `none` or `all`: the databases kept after database-mode tests ([`KeepPolicy`]) | `failed` |
/// | `PERSISTENCE_TEST_ISOLATION` | `database`: run `&mut PgConnection` tests in a database of their own, outside a transaction ([`IsolationOverride`]) | unset |
/// | `PERSISTENCE_TEST_READY_CLONES` | clean database-mode clones the janitor keeps ready per template under nextest; `0` turns the janitor off | `2` |
/// | `PERSISTENCE_TEST_RELAY` | `0` turns off the relay of warm sessions that nextest's processes get from a native server's supervisor | on |
/// | `PERSISTENCE_TEST_SEED` | the seed of the tests' random generators (see `testing::seed`) | drawn per process |
/// | `PERSISTENCE_TEST_ROLE` | the role (not a superuser) that tests without `#[db_test(role = ...)]` log in as | the server's superuser |
/// | `PERSISTENCE_TEST_LOCK_WAIT` | seconds a test's statement may wait on a lock before the test fails, naming the lock's holder; `off` never | `5` |
/// | `PERSISTENCE_TEST_CONNECTIONS` | the connections the tests of this machine may hold on the server at once (their budget) | the server's `max_connections` less a reserve |
/// | `PERSISTENCE_TEST_TIMINGS` | a file the harness appends one line to per test, with how long each of its steps took (for the `breakdown` benchmark) | unset |
///
/// `Debug` shows `TEST_DATABASE_URL` with its password masked.
#[derive(Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The backend asked for.
    pub backend: BackendKind,
    /// `TEST_DATABASE_URL`, if set.
    pub external_url: Option<String>,
    /// `PERSISTENCE_PG_BIN`, if set.
    pub pg_bin: Option<PathBuf>,
    /// The image of the docker backend (`PERSISTENCE_TEST_IMAGE`).
    pub image: String,
    /// How long a started server outlives its last user.
    pub idle_grace: IdleGrace,
    /// Where processes of one run meet.
    pub state_dir: PathBuf,
    /// A RAM-backed directory for native servers' data, used when it has room; `None`: the
    /// data lives under the state directory (as on macOS, which has no `/dev/shm`).
    pub ram_dir: Option<PathBuf>,
    /// What is kept of database-mode tests' databases.
    pub keep: KeepPolicy,
    /// How `&mut PgConnection` tests run.
    pub isolation: IsolationOverride,
    /// Clean clones the janitor keeps ready per template; `0`: no janitor.
    pub ready_clones: u32,
    /// Whether a native server's supervisor relays warm sessions to test processes
    /// (`PERSISTENCE_TEST_RELAY`, on unless `0`).
    pub relay: bool,
    /// `PERSISTENCE_TEST_SEED` as set (parsed by the harness, which says what is wrong
    /// with it where a test uses it).
    pub seed: Option<String>,
    /// `PERSISTENCE_TEST_ROLE`: the role tests log in as unless they name one; `None`, the
    /// server's superuser.
    pub role: Option<String>,
    /// nextest's process-per-test mode: this process runs one test and ends
    /// (`NEXTEST_EXECUTION_MODE=process-per-test`).
    pub one_test_per_process: bool,
    /// How long a test's statement may wait on a lock before the test fails with who holds
    /// it (`PERSISTENCE_TEST_LOCK_WAIT`); `None`: never.
    pub lock_wait: Option<Duration>,
    /// The connection budget of this machine's tests (`PERSISTENCE_TEST_CONNECTIONS`), when
    /// set; else the harness sizes it from the server's `max_connections`.
    pub connections: Option<u32>,
    /// `PERSISTENCE_TEST_TIMINGS`: the file each test appends the durations of its steps
    /// to (see `benches/breakdown.rs`); `None`, nothing is recorded.
    pub timings: Option<PathBuf>,
}

/// How long a test's statement may wait on a lock unless `PERSISTENCE_TEST_LOCK_WAIT` says
/// otherwise: longer than any lock a healthy test waits for, short enough to beat a CI
/// job's timeout by far.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let external_url = self
            .external_url
            .as_deref()
            .map(crate::postgres::redact_passwords);
        f.debug_struct("Settings")
            .field("backend", &self.backend)
            .field("external_url", &external_url)
            .field("pg_bin", &self.pg_bin)
            .field("image", &self.image)
            .field("idle_grace", &self.idle_grace)
            .field("state_dir", &self.state_dir)
            .field("ram_dir", &self.ram_dir)
            .field("keep", &self.keep)
            .field("isolation", &self.isolation)
            .field("ready_clones", &self.ready_clones)
            .field("relay", &self.relay)
            .field("seed", &self.seed)
            .field("role", &self.role)
            .field("one_test_per_process", &self.one_test_per_process)
            .field("lock_wait", &self.lock_wait)
            .field("connections", &self.connections)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// The janitor's ready clones per template unless `PERSISTENCE_TEST_READY_CLONES` says
/// otherwise: two keep a 2-core machine's nextest slots fed.
pub const DEFAULT_READY_CLONES: u32 = 2;

/// The image the docker backend runs unless `PERSISTENCE_TEST_IMAGE` says otherwise: a
/// current official one.
pub const DEFAULT_IMAGE: &str = "postgres:17-alpine";

/// The default idle grace: long enough to bridge the gap between two test binaries of one
/// `cargo test`, short enough that nothing lingers after the run.
pub const DEFAULT_IDLE_GRACE: Duration = Duration::from_secs(5);

impl Settings {
    /// The settings of this process, read from its environment on first use. A bad value
    /// is reported by every call.
    pub fn get() -> Result<&'static Self, EphemeralError> {
        type Bad = (&'static str, String, &'static str);
        static SETTINGS: std::sync::OnceLock<Result<Settings, Bad>> = std::sync::OnceLock::new();
        let read = SETTINGS.get_or_init(|| {
            Self::from_env().map_err(|err| match err {
                EphemeralError::BadSetting {
                    name,
                    value,
                    expected,
                } => (name, value, expected),
                // Reading the environment reports nothing else.
                other => ("the environment", other.to_string(), "valid settings"),
            })
        });
        match read {
            Ok(settings) => Ok(settings),
            Err((name, value, expected)) => Err(EphemeralError::BadSetting {
                name,
                value: value.clone(),
                expected,
            }),
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, EphemeralError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so they can be tested without touching the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EphemeralError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let backend = match non_empty("PERSISTENCE_TEST_BACKEND") {
            None => BackendKind::Auto,
            Some(value) => value.parse()?,
        };
        let idle_grace = match non_empty("PERSISTENCE_TEST_IDLE_GRACE") {
            None => IdleGrace::After(DEFAULT_IDLE_GRACE),
            Some(value) => parse_grace(&value)?,
        };
        let state_dir = match non_empty("PERSISTENCE_STATE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => default_state_dir(),
        };
        let ram_dir = match non_empty("PERSISTENCE_TEST_RAM_DIR") {
            None => platform::ram_dir(),
            Some(value) if value.trim().eq_ignore_ascii_case("none") => None,
            Some(dir) => Some(PathBuf::from(dir)),
        };
        let keep = match non_empty("PERSISTENCE_TEST_KEEP") {
            None => KeepPolicy::Failed,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "failed" => KeepPolicy::Failed,
                "none" | "never" | "0" | "false" => KeepPolicy::None,
                "all" => KeepPolicy::All,
                _ => {
                    return Err(EphemeralError::BadSetting {
                        name: "PERSISTENCE_TEST_KEEP",
                        value,
                        expected: "failed (the default), none or all",
                    });
                }
            },
        };
        let isolation = match non_empty("PERSISTENCE_TEST_ISOLATION") {
            None => IsolationOverride::AsDeclared,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "database" => IsolationOverride::Database,
                "transaction" | "declared" => IsolationOverride::AsDeclared,
                _ => {
                    return Err(EphemeralError::BadSetting {
                        name: "PERSISTENCE_TEST_ISOLATION",
                        value,
                        expected: "database (run `&mut PgConnection` tests in a database of their \
                                   own), or unset",
                    });
                }
            },
        };
        let ready_clones = match non_empty("PERSISTENCE_TEST_READY_CLONES") {
            None => DEFAULT_READY_CLONES,
            Some(value) => value.trim().parse().ok().filter(|n| *n <= 1024).ok_or(
                EphemeralError::BadSetting {
                    name: "PERSISTENCE_TEST_READY_CLONES",
                    value,
                    expected: "a number of clones from 0 (no janitor) to 1024",
                },
            )?,
        };
        Ok(Self {
            backend,
            keep,
            isolation,
            ready_clones,
            relay: match non_empty("PERSISTENCE_TEST_RELAY") {
                None => true,
                Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                    "0" | "false" | "off" | "no" => false,
                    "1" | "true" | "on" | "yes" => true,
                    _ => {
                        return Err(EphemeralError::BadSetting {
                            name: "PERSISTENCE_TEST_RELAY",
                            value,
                            expected: "1 (the default) or 0",
                        });
                    }
                },
            },
            seed: non_empty("PERSISTENCE_TEST_SEED"),
            role: match non_empty("PERSISTENCE_TEST_ROLE") {
                None => None,
                Some(value) => Some(check_role(value)?),
            },
            lock_wait: match non_empty("PERSISTENCE_TEST_LOCK_WAIT") {
                None => Some(DEFAULT_LOCK_WAIT),
                Some(value) => parse_lock_wait(&value)?,
            },
            connections: match non_empty("PERSISTENCE_TEST_CONNECTIONS") {
                None => None,
                Some(value) => Some(value.trim().parse().ok().filter(|n| *n >= 1).ok_or(
                    EphemeralError::BadSetting {
                        name: "PERSISTENCE_TEST_CONNECTIONS",
                        value,
                        expected: "a number of connections, at least 1",
                    },
                )?),
            },
            timings: non_empty("PERSISTENCE_TEST_TIMINGS").map(PathBuf::from),
            one_test_per_process: lookup("NEXTEST_EXECUTION_MODE")
                .is_some_and(|mode| mode == "process-per-test"),
            external_url: non_empty("TEST_DATABASE_URL"),
            pg_bin: non_empty("PERSISTENCE_PG_BIN").map(PathBuf::from),
            image: non_empty("PERSISTENCE_TEST_IMAGE").unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
            idle_grace,
            state_dir,
            ram_dir,
        })
    }
}

/// A role name as PostgreSQL takes it for a new role: at most 63 bytes, and not in the
/// `pg_` namespace it reserves.
fn check_role(value: String) -> Result<String, EphemeralError> {
    let role = value.trim();
    if role.len() > 63 || role.starts_with("pg_") || role.contains('\0') {
        return Err(EphemeralError::BadSetting {
            name: "PERSISTENCE_TEST_ROLE",
            value,
            expected: "a role name of at most 63 bytes that does not start with `pg_`",
        });
    }
    Ok(role.to_owned())
}

fn parse_grace(value: &str) -> Result<IdleGrace, EphemeralError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("never") {
        return Ok(IdleGrace::Never);
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs >= 0.0 && *secs <= 86_400.0)
        .map(|secs| IdleGrace::After(Duration::from_secs_f64(secs)))
        .ok_or(EphemeralError::BadSetting {
            name: "PERSISTENCE_TEST_IDLE_GRACE",
            value: value.to_owned(),
            expected: "a number of seconds between 0 and 86400 (e.g. 5 or 0.5), or `never`",
        })
}

fn parse_lock_wait(value: &str) -> Result<Option<Duration>, EphemeralError> {
    let value = value.trim();
    if ["off", "never", "0"]
        .iter()
        .any(|off| value.eq_ignore_ascii_case(off))
    {
        return Ok(None);
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0 && *secs <= 86_400.0)
        .map(|secs| Some(Duration::from_secs_f64(secs)))
        .ok_or(EphemeralError::BadSetting {
            name: "PERSISTENCE_TEST_LOCK_WAIT",
            value: value.to_owned(),
            expected: "a number of seconds up to 86400 (e.g. 5 or 0.5), or `off`",
        })
}

/// `<target dir>/persistence`: cargo marks its target directory with `CACHEDIR.TAG`, and test
/// binaries live below it (`target/debug/deps`), so walking up from the running executable
/// finds it for `cargo test`, `cargo nextest run` and `cargo bench` alike.
fn default_state_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    exe.as_deref()
        .and_then(target_dir_of)
        .map(|target| target.join("persistence"))
        .unwrap_or_else(|| std::env::temp_dir().join("persistence"))
}

fn target_dir_of(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Settings read from `vars` alone, for the unit tests of the modules that take settings.
#[cfg(test)]
impl Settings {
    pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> Result<Self, EphemeralError> {
        Self::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, EphemeralError> {
        Settings::from_pairs(vars)
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.backend, BackendKind::Auto);
        assert_eq!(s.idle_grace, IdleGrace::After(DEFAULT_IDLE_GRACE));
        assert!(s.external_url.is_none());
        assert!(s.timings.is_none());
        assert!(s.state_dir.ends_with("persistence"));
        assert_eq!(s.ram_dir, platform::ram_dir());
    }

    #[test]
    fn the_ram_dir_can_be_turned_off_or_moved() {
        let none = settings(&[("PERSISTENCE_TEST_RAM_DIR", "None")]).expect("none");
        assert_eq!(none.ram_dir, None);
        let moved = settings(&[("PERSISTENCE_TEST_RAM_DIR", "/mnt/ram")]).expect("dir");
        assert_eq!(moved.ram_dir, Some(PathBuf::from("/mnt/ram")));
    }

    #[test]
    fn reads_every_variable() {
        let s = settings(&[
            ("PERSISTENCE_TEST_BACKEND", "native"),
            ("PERSISTENCE_TEST_IDLE_GRACE", "0.5"),
            ("PERSISTENCE_STATE_DIR", "/tmp/x"),
            ("PERSISTENCE_PG_BIN", "/opt/pg/bin"),
            ("TEST_DATABASE_URL", "postgres://u@h/db"),
            ("PERSISTENCE_TEST_ROLE", " app "),
            ("PERSISTENCE_TEST_TIMINGS", "/tmp/t.jsonl"),
        ])
        .expect("valid");
        assert_eq!(s.timings, Some(PathBuf::from("/tmp/t.jsonl")));
        assert_eq!(s.role.as_deref(), Some("app"));
        assert_eq!(s.backend, BackendKind::Native);
        assert_eq!(s.idle_grace, IdleGrace::After(Duration::from_millis(500)));
        assert_eq!(s.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.pg_bin, Some(PathBuf::from("/opt/pg/bin")));
        assert_eq!(s.external_url.as_deref(), Some("postgres://u@h/db"));
        let never = settings(&[("PERSISTENCE_TEST_IDLE_GRACE", "NEVER")]).expect("never");
        assert_eq!(never.idle_grace, IdleGrace::Never);
        assert_eq!(never.lock_wait, Some(DEFAULT_LOCK_WAIT));
        let tuned = settings(&[
            ("PERSISTENCE_TEST_LOCK_WAIT", "2.5"),
            ("PERSISTENCE_TEST_CONNECTIONS", "40"),
        ])
        .expect("valid");
        assert_eq!(tuned.lock_wait, Some(Duration::from_millis(2500)));
        assert_eq!(tuned.connections, Some(40));
        let off = settings(&[("PERSISTENCE_TEST_LOCK_WAIT", "off")]).expect("off");
        assert_eq!(off.lock_wait, None);
    }

    #[test]
    fn debug_masks_the_password_of_test_database_url() {
        let s =
            settings(&[("TEST_DATABASE_URL", "postgres://u:hunter2secret@h/db")]).expect("valid");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(shown.contains("postgres://u:***@h/db"), "{shown}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let long_role = "r".repeat(64);
        for (name, value) in [
            ("PERSISTENCE_TEST_BACKEND", "podman"),
            ("PERSISTENCE_TEST_IDLE_GRACE", "-1"),
            ("PERSISTENCE_TEST_IDLE_GRACE", "soon"),
            ("PERSISTENCE_TEST_ROLE", "pg_monitor"),
            ("PERSISTENCE_TEST_ROLE", long_role.as_str()),
            ("PERSISTENCE_TEST_LOCK_WAIT", "-2"),
            ("PERSISTENCE_TEST_CONNECTIONS", "0"),
        ] {
            let err = settings(&[(name, value)]).expect_err("invalid").to_string();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
